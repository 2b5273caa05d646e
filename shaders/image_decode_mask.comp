#version 450
// An 8-bit mask image (255 = generate, 0 = keep; 4 pixels per word, the first in the low byte,
// images back to back) -> the sampler's Mask[n, 1, H, W] = 1 - byte/255 (1 = keep the init image).
// With factor f > 1 the bytes are f times the mask's size each way and each element is the mean
// keep weight of its f x f block (a cascade's earlier stage).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Bytes { uint bytes[]; };
layout(std430, binding = 1) writeonly buffer Mask { float mask[]; };

layout(push_constant) uniform Push {
  uint count;   // n*H*W
  uint plane;   // H*W
  uint width;   // W
  uint factor;  // f >= 1
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint f = p.factor, srcWidth = p.width * f, srcPlane = p.plane * f * f;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint item = i / p.plane;
    const uint at = i - item * p.plane;
    const uint y = at / p.width, x = at - y * p.width;
    const uint first = item * srcPlane + y * f * srcWidth + x * f;
    uint sum = 0u;
    for (uint dy = 0u; dy < f; ++dy)
      for (uint dx = 0u; dx < f; ++dx) {
        const uint j = first + dy * srcWidth + dx;
        sum += bitfieldExtract(bytes[j >> 2], int(8u * (j & 3u)), 8);
      }
    mask[i] = 1.0 - float(sum) / (255.0 * float(f * f));
  }
}
