#version 450
// 1x1 convolution, plane size a multiple of 4 (pixels as vec4): see conv2d_pointwise.glsl.
#define PIXELS4 1
#extension GL_GOOGLE_include_directive : require
#include "conv2d_pointwise.glsl"
