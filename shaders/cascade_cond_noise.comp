#version 450
// The low-resolution half of a cascade stage's conditioning (cascaded diffusion's noise
// conditioning augmentation, tools/train/sr.py `condition`):
//   low[o] = clamp(X[o], -1, 1) + sigma * z,  z = the image's noise of stream p.stream
// with the same Philox mapping as the sampler (sampler_noise.glsl), so PyTorch's reference draws
// the same z from the seed. X is the stage before's final state.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "sampler_params.glsl"
#include "sampler_noise.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 1) readonly buffer X { float xs[]; };
layout(std430, binding = 2) writeonly buffer Low { float low[]; };

layout(push_constant) uniform Push {
  uint items;          // n
  uint perItem;        // C*h*w
  uint blocksPerItem;  // ceil(perItem / 4): one Philox block per invocation
  uint stream;
  float sigma;         // sigma_aug; 0 draws no noise
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint blocks = p.items * p.blocksPerItem;
  for (uint b = gl_GlobalInvocationID.x; b < blocks; b += stride) {
    const uint item = b / p.blocksPerItem;
    const uint block = b - item * p.blocksPerItem;
    const vec4 z = p.sigma != 0.0
                       ? samplerNormal4(params.items[item].seedLo, params.items[item].seedHi, p.stream, block)
                       : vec4(0.0);
    for (uint lane = 0u; lane < 4u; ++lane) {
      const uint index = 4u * block + lane;
      if (index >= p.perItem) break;
      const uint o = item * p.perItem + index;
      low[o] = clamp(xs[o], -1.0, 1.0) + p.sigma * z[lane];
    }
  }
}
