#version 450
// The attention output of one block of query rows, for a run of (batch, head) pairs z, through
// attention_gemm.glsl:
//   o_z[row0 + t] = (sum_j e_z[t][j] v_z[j]) * rowScale_z[t],  t < M (the block's rows)
// with the block's e and rowScale from attention_softmax. A = e (fp32, [M][HW] per pair),
// B = v ([HW][D] per pair, "rows"), Y = o, head-major like q, over the block's rows of q (which
// no later block reads).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Weights { vec4 a[]; };
layout(std430, binding = 1) readonly buffer Values { STORE_VEC4 b[]; };
layout(std430, binding = 2) readonly buffer RowScale { float rowScale[]; };
layout(std430, binding = 3) writeonly buffer Out { STORE_VEC4 y[]; };

layout(push_constant) uniform Push {
  uint z0;    // first (batch, head) pair of the block
  uint row0;  // first query row of the block
} p;

#define LDA4(x) (x)
#define STY4(x) ST4(x)
#define EPILOGUE(v, r, c, i) ((v) * rowScale[gl_WorkGroupID.z * M + (r)])
#define B_BASE (p.z0 * B_ZSTRIDE)
#define Y_BASE (p.z0 * Y_ZSTRIDE + p.row0 * NC)

#include "attention_gemm.glsl"

void main() { gemm(); }
