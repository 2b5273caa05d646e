#version 450
// Attention scores of one block of query rows, for a run of (batch, head) pairs z, through
// attention_gemm.glsl:
//   S_z[t][j] = (q_{row0+t} . k_j) * head_dim^-0.5 * log2(e),  t < NC (the block's rows), j < M
// A = k ([HW][D] per pair), B = q read as D x NC ("heads" layout, one head), Y = the block's S
// stored query-major ("heads" layout with Y_HEAD = HW: row t of S is contiguous, Y_ZSTRIDE =
// NC * HW), always fp32 so the softmax sees the scores unrounded. The pair and the first query
// row come as push constants, so every full block shares one pipeline.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Keys { STORE_VEC4 a[]; };
layout(std430, binding = 1) readonly buffer Queries { STORE_VEC4 b[]; };
layout(std430, binding = 2) writeonly buffer Scores { vec4 y[]; };

layout(push_constant) uniform Push {
  float scaleLog2e;  // base-2 scores, so the softmax uses exp2
  uint z0;           // first (batch, head) pair of the block
  uint row0;         // first query row of the block
} p;

#define LDA4(x) LD4(x)
#define STY4(x) (x)
#define EPILOGUE(v, r, c, i) ((v) * p.scaleLog2e)
#define A_BASE (p.z0 * A_ZSTRIDE)
#define B_BASE (p.z0 * B_ZSTRIDE + p.row0 * B_HEAD)

#include "attention_gemm.glsl"

void main() { gemm(); }
