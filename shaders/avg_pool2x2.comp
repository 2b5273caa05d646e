#version 450
// 2x2 average pool, stride 2: [N,C,H,W] -> [N,C,H/2,W/2], odd sizes floored like PyTorch's
// avg_pool2d (the last row/column of an odd input is dropped). Grid: x = output column,
// y = output row, z = channel plane, each a grid-stride loop; no division per pixel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0, local_size_y_id = 1) in;

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_T o[]; };

layout(push_constant) uniform Push {
  uint planes;  // N*C
  uint height;  // input H
  uint width;   // input W
} p;

void main() {
  const uint W = p.width;
  const uint Ho = p.height / 2u;
  const uint Wo = W / 2u;
  const uvec3 stride = gl_NumWorkGroups * gl_WorkGroupSize;
  for (uint plane = gl_GlobalInvocationID.z; plane < p.planes; plane += stride.z) {
    for (uint y = gl_GlobalInvocationID.y; y < Ho; y += stride.y) {
      const uint top = (plane * p.height + 2u * y) * W;
      const uint out0 = (plane * Ho + y) * Wo;
      for (uint c = gl_GlobalInvocationID.x; c < Wo; c += stride.x) {
        const uint i = top + 2u * c;
        const float s = (LD(x[i]) + LD(x[i + 1u])) + (LD(x[i + W]) + LD(x[i + W + 1u]));
        o[out0 + c] = ST(0.25 * s);
      }
    }
  }
}
