#version 450
// GroupNorm, four pixels per load: H*W a multiple of 4, so a vector never straddles two channels.
// See group_norm.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define GN_VEC vec4
#define GN_STORE STORE_VEC4
#define GN_WIDTH 4u
#include "group_norm.glsl"
