#version 450
// A per-token linear layer over channels (the general variant: any C, any token count):
//   y[n, co, t] = (sum_ci w[co, ci] * x[n, ci, t] + bias[co] (+ res[n, co, t])) / rescale
// with w in PyTorch's [out, in] layout. Attention uses it for to_q/to_k/to_v and for to_out.0
// fused with the residual add and the division by rescale_output_factor. Input and output are
// each either NCHW ([N, C, HW]) or head-major ([N, C/D, HW, D], a head's tokens as rows), as
// attention_linear_vec4.comp reads and writes them.
// A workgroup owns TM output channels; each lane accumulates TM x TN outputs.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint C = 1;               // channels in = channels out
layout(constant_id = 2) const uint HW = 1;              // tokens
layout(constant_id = 3) const uint TN = 1;              // tokens per lane
layout(constant_id = 4) const uint D = 1;               // head_dim, for the head-major layout
layout(constant_id = 5) const uint IN_HEAD_MAJOR = 0;
layout(constant_id = 6) const uint OUT_HEAD_MAJOR = 0;
const uint TM = 8;                                      // output channels per workgroup

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) readonly buffer Weight { STORE_T w[]; };
layout(std430, binding = 2) readonly buffer Bias { STORE_T bias[]; };
layout(std430, binding = 3) readonly buffer Residual { STORE_T res[]; };
// Not writeonly/restrict: the output may be the residual tensor itself (each element is read
// and then written by the same invocation).
layout(std430, binding = 4) buffer Out { STORE_T y[]; };

layout(push_constant) uniform Push {
  uint addResidual;
  float rescale;
} p;

uint index(uint headMajor, uint n, uint c, uint t) {
  return headMajor != 0u ? (n * C + c / D * D) * HW + t * D + c % D : (n * C + c) * HW + t;
}

void main() {
  const uint n = gl_WorkGroupID.z;
  const uint co0 = gl_WorkGroupID.y * TM;
  const uint t0 = gl_WorkGroupID.x * gl_WorkGroupSize.x * TN + gl_LocalInvocationID.x;

  float acc[TM][TN];
  for (uint m = 0; m < TM; ++m)
    for (uint j = 0; j < TN; ++j) acc[m][j] = 0.0;

  // C is a specialization constant: left alone, LLVM unrolls this loop whole and lavapipe
  // spends seconds compiling each shape.
  [[dont_unroll]] for (uint ci = 0; ci < C; ++ci) {
    float xv[TN];
    for (uint j = 0; j < TN; ++j)
      xv[j] = LD(x[index(IN_HEAD_MAJOR, n, ci, min(t0 + j * gl_WorkGroupSize.x, HW - 1))]);
    [[unroll]] for (uint m = 0; m < TM; ++m) {
      // Rows past C (the last block when TM does not divide C) repeat row C-1 and are not stored.
      const float wv = LD(w[min(co0 + m, C - 1) * C + ci]);
      for (uint j = 0; j < TN; ++j) acc[m][j] += wv * xv[j];
    }
  }

  for (uint m = 0; m < TM; ++m) {
    const uint co = co0 + m;
    if (co >= C) break;
    const float b = LD(bias[co]);
    for (uint j = 0; j < TN; ++j) {
      const uint t = t0 + j * gl_WorkGroupSize.x;
      if (t >= HW) break;
      float v = acc[m][j] + b;
      if (p.addResidual != 0u) v += LD(res[index(0u, n, co, t)]);
      y[index(OUT_HEAD_MAJOR, n, co, t)] = ST(v / p.rescale);
    }
  }
}
