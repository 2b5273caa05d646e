#version 450
// The attention output for every (batch, head) z through attention_gemm.glsl:
//   o_z[t] = (sum_j e_z[t][j] v_z[j]) * rowScale_z[t]
// with e and rowScale from attention_softmax. A = e (fp32, [HW][HW] per z), B = v ([HW][D] per
// z, "rows"), Y = o, head-major like q (it is written over q's scratch).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(std430, binding = 0) readonly buffer Weights { vec4 a[]; };
layout(std430, binding = 1) readonly buffer Values { STORE_VEC4 b[]; };
layout(std430, binding = 2) readonly buffer RowScale { float rowScale[]; };
layout(std430, binding = 3) writeonly buffer Out { STORE_VEC4 y[]; };

#define LDA4(x) (x)
#define STY4(x) ST4(x)
#define EPILOGUE(v, r, c, i) ((v) * rowScale[gl_WorkGroupID.z * M + (r)])

#include "attention_gemm.glsl"

void main() { gemm(); }
