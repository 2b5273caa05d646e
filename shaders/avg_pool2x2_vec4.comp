#version 450
// 2x2 average pool for W a multiple of 4: one invocation reads a vec4 from each of the two input
// rows and writes the two outputs they make as one vec2. Fewer, wider accesses than
// avg_pool2x2.comp (lavapipe loops over the lanes once per access). Odd H is floored as there.
// Grid: x = output column pair, y = output row, z = channel plane, each a grid-stride loop.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0, local_size_y_id = 1) in;

layout(std430, binding = 0) readonly buffer In { STORE_VEC4 x[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_VEC2 o[]; };

layout(push_constant) uniform Push {
  uint planes;  // N*C
  uint height;  // input H
  uint width;   // input W, a multiple of 4
} p;

void main() {
  const uint quads = p.width / 4u;  // vec4 per input row, and vec2 per output row
  const uint Ho = p.height / 2u;
  const uvec3 stride = gl_NumWorkGroups * gl_WorkGroupSize;
  for (uint plane = gl_GlobalInvocationID.z; plane < p.planes; plane += stride.z) {
    for (uint y = gl_GlobalInvocationID.y; y < Ho; y += stride.y) {
      const uint top = (plane * p.height + 2u * y) * quads;
      const uint out0 = (plane * Ho + y) * quads;
      for (uint c = gl_GlobalInvocationID.x; c < quads; c += stride.x) {
        const vec4 s = vec4(x[top + c]) + vec4(x[top + quads + c]);
        o[out0 + c] = STORE_VEC2(0.25 * (s.xz + s.yw));
      }
    }
  }
}
