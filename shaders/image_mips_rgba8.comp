#version 450
// One mip level of RGBA8 pixels (R in the low byte) from the level above, in linear light: each
// byte's sRGB encoding is undone (IEC 61966-2-1), the texels are box-filtered (image_mips.glsl),
// and the result encoded back to sRGB and rounded to the nearest byte. Alpha is filtered as it
// is (it is never sRGB-encoded). _SRGB and _UNORM images get the same bytes: in both the bytes
// are the model's sRGB-encoded colour, so averaging them as they are would darken contrasty
// detail in the distance. One invocation per destination pixel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Src { uint src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uint dst[]; };

#include "image_mips.glsl"

float srgbToLinear(float v) { return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4); }
float linearToSrgb(float v) { return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1.0 / 2.4) - 0.055; }

vec4 loadTexel(uint index) {
  const vec4 b = vec4(unpackUnorm4x8(src[index]));
  return vec4(srgbToLinear(b.x), srgbToLinear(b.y), srgbToLinear(b.z), b.w);
}

uint toByte(float v) { return uint(floor(clamp(v, 0.0, 1.0) * 255.0 + 0.5)); }

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const vec4 v = boxFilter(i);
    dst[i] = toByte(linearToSrgb(v.x)) | (toByte(linearToSrgb(v.y)) << 8) | (toByte(linearToSrgb(v.z)) << 16) |
             (toByte(v.w) << 24);
  }
}
