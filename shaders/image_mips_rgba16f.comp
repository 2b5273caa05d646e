#version 450
// One mip level of RGBA16F pixels (R | G << 16, B | A << 16) from the level above. The values
// are linear light already, so the box filter (image_mips.glsl) runs on them as they are, in
// fp32, and the result is rounded to fp16. One invocation per destination pixel.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Src { uvec2 src[]; };
layout(std430, binding = 1) writeonly buffer Dst { uvec2 dst[]; };

#include "image_mips.glsl"

vec4 loadTexel(uint index) {
  const uvec2 t = src[index];
  return vec4(unpackHalf2x16(t.x), unpackHalf2x16(t.y));
}

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride) {
    const vec4 v = boxFilter(i);
    dst[i] = uvec2(packHalf2x16(v.xy), packHalf2x16(v.zw));
  }
}
