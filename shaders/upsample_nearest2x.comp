#version 450
// Nearest-neighbour 2x upsample, [N,C,H,W] -> [N,C,2H,2W] (F.interpolate(scale_factor=2,
// mode="nearest")). One invocation per input pixel writes its 2x2 block as two vec2 stores: an
// output row has 2W values, so a pair starting at an even column is always vec2-aligned.
// Grid: x = column, y = row, z = channel plane, each a grid-stride loop; no division per pixel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0, local_size_y_id = 1) in;

layout(std430, binding = 0) readonly buffer In { STORE_T x[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_VEC2 o[]; };

layout(push_constant) uniform Push {
  uint planes;  // N*C
  uint height;  // input H
  uint width;   // input W
} p;

void main() {
  const uint W = p.width;
  const uvec3 stride = gl_NumWorkGroups * gl_WorkGroupSize;
  for (uint plane = gl_GlobalInvocationID.z; plane < p.planes; plane += stride.z) {
    for (uint y = gl_GlobalInvocationID.y; y < p.height; y += stride.y) {
      const uint row = plane * p.height + y;  // input row; output rows 2*row and 2*row+1
      for (uint c = gl_GlobalInvocationID.x; c < W; c += stride.x) {
        const vec2 v = vec2(LD(x[row * W + c]));
        // In vec2 units an output row holds W pairs: row 2*row starts at 2*row*W.
        o[2u * row * W + c] = STORE_VEC2(v);
        o[(2u * row + 1u) * W + c] = STORE_VEC2(v);
      }
    }
  }
}
