#version 450
// Starts a generation from noise alone (no init image bound). The body is sampler_start.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define SAMPLER_HAS_INIT 0
#include "sampler_start.glsl"
