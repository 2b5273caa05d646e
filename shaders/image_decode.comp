#version 450
// RGBA8 pixels -> the sampler's Init tensor: Init[i, c, y, x] = byte_c / 127.5 - 1 (tools/train
// edm.py to_unit), channels 0..C-1 of each pixel (R is the low byte). Pixels are row-major per
// image, images back to back; one invocation per output element. With factor f > 1 the pixels
// are f times the tensor's size each way and each element is the mean of its f x f block: a
// cascade's earlier stage sees the host's full-size init image at its own size.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Pixels { uint pixels[]; };
layout(std430, binding = 1) writeonly buffer Init { float init[]; };

layout(push_constant) uniform Push {
  uint count;     // n*C*H*W
  uint channels;  // C, 1..4
  uint plane;     // H*W
  uint width;     // W
  uint factor;    // f >= 1: pixels are (H*f) x (W*f) per image
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint perItem = p.channels * p.plane;
  const uint f = p.factor, srcWidth = p.width * f, srcPlane = p.plane * f * f;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint item = i / perItem;
    const uint rest = i - item * perItem;
    const uint c = rest / p.plane;
    const uint at = rest - c * p.plane;
    const uint y = at / p.width, x = at - y * p.width;
    const uint first = item * srcPlane + y * f * srcWidth + x * f;
    uint sum = 0u;  // integer sum of bytes: exact, and f <= 2^12 keeps it below 2^32
    for (uint dy = 0u; dy < f; ++dy)
      for (uint dx = 0u; dx < f; ++dx) sum += bitfieldExtract(pixels[first + dy * srcWidth + dx], int(8u * c), 8);
    init[i] = float(sum) / (127.5 * float(f * f)) - 1.0;
  }
}
