#version 450
// Counter-based Gaussian noise: out[j] = scale * normal(key, stream, first + j), where element i
// of a stream is lane i%4 of Box-Muller applied to philox4x32_10(counter, key) with
//   counter = (lo32(i/4), hi32(i/4), stream, 0), key = (lo32(seed), hi32(seed)),
//   words (x0, x1) -> lanes 0, 1 and (x2, x3) -> lanes 2, 3, each pair (a, b) giving
//   u1 = (2*(a >> 9) + 1) * 2^-24   in [2^-24, 1 - 2^-24], exact in fp32, never 0
//   u2 = (b >> 8) * 2^-24           in [0, 1), exact
//   r = sqrt(-2 ln u1), (r cos 2*pi*u2, r sin 2*pi*u2).
// So a value depends on (seed, stream, index) only: not on batch size, dispatch shape or device.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"
#include "box_muller.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint count;      // elements written
  uint lead;       // first % 4: lanes of the first block that come before out[0]
  uint blocks;     // Philox blocks touched: (lead + count + 3) / 4
  uint block0Lo;   // first / 4, as two words
  uint block0Hi;
  uint keyLo;
  uint keyHi;
  uint stream;
  float scale;
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint b = gl_GlobalInvocationID.x; b < p.blocks; b += stride) {
    uint carry;
    const uint blockLo = uaddCarry(p.block0Lo, b, carry);
    const uvec4 words = philox4x32_10(uvec4(blockLo, p.block0Hi + carry, p.stream, 0u), uvec2(p.keyLo, p.keyHi));
    const vec2 z01 = boxMuller(words.x, words.y);
    const vec2 z23 = boxMuller(words.z, words.w);
    const float z[4] = float[4](z01.x, z01.y, z23.x, z23.y);
    for (uint lane = 0u; lane < 4u; ++lane) {
      // Position within the output; lanes before out[0] or past its end wrap to huge values.
      const uint j = 4u * b + lane - p.lead;
      if (j < p.count) {
        precise float v = p.scale * z[lane];
        o[j] = ST(v);
      }
    }
  }
}
