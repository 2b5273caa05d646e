#version 450
// The sampler's X [n, C, H, W] -> RGBA16F pixels (two words per pixel: R | G << 16, B | A << 16,
// image i at pixel i*H*W). The network works in sRGB-encoded values, so colour channels are
// decoded to linear light: v = (clamp(x, -1, 1) + 1) / 2, then the sRGB EOTF, without the 8-bit
// quantisation of the RGBA8 path. Alpha stays linear; a missing alpha is 1. C = 1 is grey,
// 2 grey + alpha, 3 RGB, 4 RGBA.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer X { float xs[]; };
layout(std430, binding = 1) writeonly buffer Pixels { uvec2 pixels[]; };

layout(push_constant) uniform Push {
  uint count;     // n*H*W pixels
  uint channels;  // C, 1..4
  uint plane;     // H*W
} p;

float unit(float x) { return (clamp(x, -1.0, 1.0) + 1.0) * 0.5; }

// IEC 61966-2-1.
float srgbToLinear(float v) { return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4); }

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const uint item = i / p.plane;
    const uint base = i + item * (p.channels - 1u) * p.plane;  // element (item, 0, pixel)
    vec4 v = vec4(0.0, 0.0, 0.0, 1.0);
    for (uint c = 0u; c < p.channels; ++c) v[c] = unit(xs[base + c * p.plane]);
    if (p.channels <= 2u) v = vec4(v.xxx, p.channels == 2u ? v.y : 1.0);
    const vec3 rgb = vec3(srgbToLinear(v.x), srgbToLinear(v.y), srgbToLinear(v.z));
    pixels[i] = uvec2(packHalf2x16(rgb.xy), packHalf2x16(vec2(rgb.z, v.w)));
  }
}
