#version 450
// GroupNorm, one pixel per load: any H*W. See group_norm.glsl.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#define GN_VEC float
#define GN_STORE STORE_T
#define GN_WIDTH 1u
#include "group_norm.glsl"
