#version 450
// The sampler's X [n, C, H, W] -> RGBA8 pixels (R in the low byte, image i at pixel i*H*W):
// byte = roundEven((clamp(x, -1, 1) + 1) * 127.5), fp32, as tools/train/edm.py to_u8 computes it
// (torch.round rounds half to even). C = 1 is grey, 2 grey + alpha, 3 RGB, 4 RGBA; a missing
// alpha is 255. One invocation per pixel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float xs[]; };
layout(std430, binding = 1) writeonly buffer Pixels { uint pixels[]; };

layout(push_constant) uniform Push {
  uint count;     // n*H*W pixels
  uint channels;  // C, 1..4
  uint plane;     // H*W
} p;

uint toByte(float x) {
  precise float v = (clamp(x, -1.0, 1.0) + 1.0) * 127.5;
  return uint(roundEven(v));
}

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint item = i / p.plane;
    const uint base = i + item * (p.channels - 1u) * p.plane;  // element (item, 0, pixel)
    uint v[4] = uint[4](0u, 0u, 0u, 255u);
    for (uint c = 0u; c < p.channels; ++c) v[c] = toByte(xs[base + c * p.plane]);
    if (p.channels <= 2u) {
      if (p.channels == 2u) v[3] = v[1];
      v[1] = v[0];
      v[2] = v[0];
    }
    pixels[i] = v[0] | (v[1] << 8) | (v[2] << 16) | (v[3] << 24);
  }
}
