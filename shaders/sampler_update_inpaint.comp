#version 450
// The sampler's update after one network evaluation, with the init image and
// mask bound so that the stage row can switch the inpainting blend on. The body is sampler_update.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define SAMPLER_HAS_MASK 1
#include "sampler_update.glsl"
