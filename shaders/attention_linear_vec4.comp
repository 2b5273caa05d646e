#version 450
// attention_linear.comp's layer through attention_gemm.glsl, for C, head_dim and token counts
// that are multiples of 4: A = the weight [C_out][C_in] (shared by the batch), B = the input's
// channels x tokens, Y = the output, z = the batch element. Epilogue: + bias[row]
// (+ residual) / rescale. The residual, when added, has Y's layout ("rows", NCHW).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Weight { STORE_VEC4 a[]; };
layout(std430, binding = 1) readonly buffer In { STORE_VEC4 b[]; };
layout(std430, binding = 2) readonly buffer Bias { STORE_T bias[]; };
layout(std430, binding = 3) readonly buffer Residual { STORE_VEC4 res[]; };
// Not writeonly/restrict: the output may be the residual tensor itself (each element is read
// and then written by the same invocation).
layout(std430, binding = 4) buffer Out { STORE_VEC4 y[]; };

layout(push_constant) uniform Push {
  uint addResidual;
  float rescale;
} p;

#define LDA4(x) LD4(x)
#define STY4(x) ST4(x)

vec4 epilogue(vec4 v, uint r, uint c, uint i, bool rowsLayout) {
  // In the "heads" layout the 4 values are 4 rows of one column; in "rows", 4 columns of a row.
  vec4 out4 = v + (rowsLayout ? vec4(LD(bias[r])) : vec4(LD(bias[r]), LD(bias[r + 1u]), LD(bias[r + 2u]), LD(bias[r + 3u])));
  if (p.addResidual != 0u) out4 += LD4(res[i / 4u]);
  return out4 / p.rescale;
}
#define EPILOGUE(v, r, c, i) epilogue(v, r, c, i, Y_HEAD == 0u)

#include "attention_gemm.glsl"

void main() { gemm(); }
