#version 450
// 1x1 convolution, any plane size: see conv2d_pointwise.glsl.
#define PIXELS4 0
#extension GL_GOOGLE_include_directive : require
#include "conv2d_pointwise.glsl"
