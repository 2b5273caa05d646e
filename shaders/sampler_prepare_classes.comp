#version 450
// The network's input, timesteps and one-hot classes for one stage
// (class-conditional model). The body is sampler_prepare.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define SAMPLER_HAS_CLASSES 1
#include "sampler_prepare.glsl"
