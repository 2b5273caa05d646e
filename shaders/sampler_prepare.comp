#version 450
// The network's input and timesteps for one stage (unconditional model). The body is sampler_prepare.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define SAMPLER_HAS_CLASSES 0
#include "sampler_prepare.glsl"
