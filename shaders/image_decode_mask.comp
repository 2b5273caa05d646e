#version 450
// An 8-bit mask image (255 = generate, 0 = keep; 4 pixels per word, the first in the low byte,
// images back to back) -> the sampler's Mask[n, 1, H, W] = 1 - byte/255 (1 = keep the init image).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Bytes { uint bytes[]; };
layout(std430, binding = 1) writeonly buffer Mask { float mask[]; };

layout(push_constant) uniform Push { uint count; } p;  // n*H*W

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint byte = bitfieldExtract(bytes[i >> 2], int(8u * (i & 3u)), 8);
    mask[i] = 1.0 - float(byte) / 255.0;
  }
}
