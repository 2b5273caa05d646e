#version 450
// The sampler's update after one network evaluation (no inpainting inputs bound). The body is sampler_update.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define SAMPLER_HAS_MASK 0
#include "sampler_update.glsl"
