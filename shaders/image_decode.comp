#version 450
// RGBA8 pixels -> the sampler's Init tensor: Init[i, c, y, x] = byte_c / 127.5 - 1 (tools/train
// edm.py to_unit), channels 0..C-1 of each pixel (R is the low byte). Pixels are row-major per
// image, images back to back; one invocation per output element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Pixels { uint pixels[]; };
layout(std430, binding = 1) writeonly buffer Init { float init[]; };

layout(push_constant) uniform Push {
  uint count;     // n*C*H*W
  uint channels;  // C, 1..4
  uint plane;     // H*W
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint perItem = p.channels * p.plane;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint item = i / perItem;
    const uint rest = i - item * perItem;
    const uint c = rest / p.plane;
    const uint pixel = item * p.plane + (rest - c * p.plane);
    const uint byte = bitfieldExtract(pixels[pixel], int(8u * c), 8);
    init[i] = float(byte) / 127.5 - 1.0;
  }
}
