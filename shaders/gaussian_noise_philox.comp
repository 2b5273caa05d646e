#version 450
// The raw Philox-4x32-10 words for given (counter, key) pairs: exposes the generator behind
// gaussian_noise so it can be checked bit for bit against published known answers.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"
layout(local_size_x_id = 0) in;

// Per item: counter (4 words), then key (2 words) and 2 unused words.
layout(std430, binding = 0) readonly buffer In { uvec4 items[]; };
layout(std430, binding = 1) writeonly buffer Out { uvec4 words[]; };

layout(push_constant) uniform Push { uint count; } p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < p.count; i += stride)
    words[i] = philox4x32_10(items[2u * i], items[2u * i + 1u].xy);
}
