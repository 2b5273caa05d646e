#version 450
// Nearest-neighbour 2x upsample for even W: one invocation reads a vec2 of neighbouring input
// pixels and writes the 4-wide run they become in each of the two output rows. Fewer, wider
// accesses than upsample_nearest2x.comp (lavapipe loops over the lanes once per access).
// Grid: x = input column pair, y = row, z = channel plane, each a grid-stride loop.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0, local_size_y_id = 1) in;

layout(std430, binding = 0) readonly buffer In { STORE_VEC2 x[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_VEC4 o[]; };

layout(push_constant) uniform Push {
  uint planes;  // N*C
  uint height;  // input H
  uint width;   // input W, even
} p;

void main() {
  const uint pairs = p.width / 2u;  // vec2 per input row, and vec4 per output row
  const uvec3 stride = gl_NumWorkGroups * gl_WorkGroupSize;
  for (uint plane = gl_GlobalInvocationID.z; plane < p.planes; plane += stride.z) {
    for (uint y = gl_GlobalInvocationID.y; y < p.height; y += stride.y) {
      const uint row = plane * p.height + y;  // input row; output rows 2*row and 2*row+1
      for (uint c = gl_GlobalInvocationID.x; c < pairs; c += stride.x) {
        const vec2 v = vec2(x[row * pairs + c]);
        const vec4 run = v.xxyy;
        o[2u * row * pairs + c] = STORE_VEC4(run);
        o[(2u * row + 1u) * pairs + c] = STORE_VEC4(run);
      }
    }
  }
}
