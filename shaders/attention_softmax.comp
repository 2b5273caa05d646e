#version 450
// Row softmax of one block of fp32 attention scores (every row of the block, all pairs), in
// place: e[t][j] = exp2(s[t][j] - max_j s[t][j]), and 1 / sum_j e[t][j] per row, which
// attention_pv applies to its output rows (dividing HW values per row instead of HW * HW).
// One lane per row.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint L = 4;  // row length (tokens), a multiple of 4

layout(std430, binding = 0) buffer Scores { vec4 s[]; };
layout(std430, binding = 1) writeonly buffer RowScale { float rowScale[]; };

layout(push_constant) uniform Push {
  uint rows;
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint row = gl_GlobalInvocationID.x; row < p.rows; row += stride) {
    const uint base = row * (L / 4u);
    vec4 m4 = s[base];
    // L is a specialization constant; unrolled whole, long rows compile for seconds.
    [[dont_unroll]] for (uint i = 1; i < L / 4u; ++i) m4 = max(m4, s[base + i]);
    const float m = max(max(m4.x, m4.y), max(m4.z, m4.w));
    vec4 sum4 = vec4(0.0);
    [[dont_unroll]] for (uint i = 0; i < L / 4u; ++i) {
      const vec4 e = exp2(s[base + i] - m);
      s[base + i] = e;
      sum4 += e;
    }
    rowScale[row] = 1.0 / ((sum4.x + sum4.y) + (sum4.z + sum4.w));
  }
}
