#version 450
// Linear layer, four features per load: K a multiple of 4, so every row starts vec4-aligned.
// See linear.glsl.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#define LIN_VEC vec4
#define LIN_STORE STORE_VEC4
#define LIN_WIDTH 4u
#include "linear.glsl"
