#version 450
// Attention scores for every (batch, head) z through attention_gemm.glsl:
//   S_z[t][j] = (q_t . k_j) * head_dim^-0.5 * log2(e)
// A = k ([HW][D] per z), B = q read as D x HW ("heads" layout, one head), Y = S stored
// query-major ("heads" layout with Y_HEAD = HW: row t of S is contiguous), always fp32 so the
// softmax sees the scores unrounded.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Keys { STORE_VEC4 a[]; };
layout(std430, binding = 1) readonly buffer Queries { STORE_VEC4 b[]; };
layout(std430, binding = 2) writeonly buffer Scores { vec4 y[]; };

layout(push_constant) uniform Push {
  float scaleLog2e;  // base-2 scores, so the softmax uses exp2
} p;

#define LDA4(x) LD4(x)
#define STY4(x) (x)
#define EPILOGUE(v, r, c, i) ((v) * p.scaleLog2e)

#include "attention_gemm.glsl"

void main() { gemm(); }
