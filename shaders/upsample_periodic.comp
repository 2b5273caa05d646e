#version 450
// Bilinear upsampling by an integer factor on the torus (tools/train/sr.py `upsample_periodic`):
// output pixel (y, x) samples the input at ((y + 0.5)/f - 0.5, (x + 0.5)/f - 0.5), indices
// wrapping around, so a tileable image stays tileable. Reads fp32 [n, C, h, w]; writes channels
// [channelOffset, channelOffset + C) of the network input [n, outChannels, h*f, w*f] in its
// storage type, where a cascade stage finds its conditioning beside the noisy image.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Low { float low[]; };
layout(std430, binding = 1) writeonly buffer Out { STORE_T outs[]; };

layout(push_constant) uniform Push {
  uint items, channels, height, width;  // the low-resolution input
  uint factor;
  uint outChannels, channelOffset;
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint oh = p.height * p.factor, ow = p.width * p.factor;
  const uint total = p.items * p.channels * oh * ow;
  const float f = float(p.factor);
  for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
    const uint x = i % ow;
    const uint y = (i / ow) % oh;
    const uint plane = i / (ow * oh);  // item * channels + c
    const uint c = plane % p.channels;
    const uint item = plane / p.channels;
    const float sy = (float(y) + 0.5) / f - 0.5, sx = (float(x) + 0.5) / f - 0.5;
    const float fy = floor(sy), fx = floor(sx);
    const float wy = sy - fy, wx = sx - fx;
    // floor(sy) >= -1: adding the height keeps the index non-negative before the modulo.
    const uint y0 = uint(int(fy) + int(p.height)) % p.height, y1 = (y0 + 1u) % p.height;
    const uint x0 = uint(int(fx) + int(p.width)) % p.width, x1 = (x0 + 1u) % p.width;
    const uint base = plane * p.height * p.width;
    const float v = (1.0 - wy) * ((1.0 - wx) * low[base + y0 * p.width + x0] + wx * low[base + y0 * p.width + x1]) +
                    wy * ((1.0 - wx) * low[base + y1 * p.width + x0] + wx * low[base + y1 * p.width + x1]);
    outs[((item * p.outChannels + p.channelOffset + c) * oh + y) * ow + x] = ST(v);
  }
}
