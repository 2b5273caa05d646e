#version 450
// Starts a generation from noise plus a weighted init image (img2img,
// inpainting). The body is sampler_start.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define SAMPLER_HAS_INIT 1
#include "sampler_start.glsl"
