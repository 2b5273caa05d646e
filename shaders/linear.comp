#version 450
// Linear layer, one feature per load: any K. See linear.glsl.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#define LIN_VEC float
#define LIN_STORE STORE_T
#define LIN_WIDTH 1u
#include "linear.glsl"
