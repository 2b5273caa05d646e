// samplerStart body: X = E = initWeight*Init + sigma0*z, D = P = 0, with sigma0 = stage.sigmaX,
// initWeight = stage.x[3] and z the image's noise of stream stage.stream. D and P are cleared so
// that a later zero coefficient never meets uninitialised memory (0 * NaN is NaN).
// SAMPLER_HAS_INIT selects the variant that binds Init; without it the init term is dropped.
#include "sampler_params.glsl"
#include "sampler_noise.glsl"
layout(local_size_x_id = 0) in;

#if SAMPLER_HAS_INIT
layout(std430, binding = 1) readonly buffer Init { float init[]; };
#define STATE_BINDING 2
#else
#define STATE_BINDING 1
#endif
layout(std430, binding = STATE_BINDING + 0) writeonly buffer X { float xs[]; };
layout(std430, binding = STATE_BINDING + 1) writeonly buffer E { float es[]; };
layout(std430, binding = STATE_BINDING + 2) writeonly buffer D { float ds[]; };
layout(std430, binding = STATE_BINDING + 3) writeonly buffer P { float ps[]; };

layout(push_constant) uniform Push {
  uint items;          // n
  uint perItem;        // C*H*W
  uint blocksPerItem;  // ceil(perItem / 4): one Philox block per invocation
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  const uint blocks = p.items * p.blocksPerItem;
  const float sigma0 = params.stage.sigmaX;
  const float initWeight = params.stage.x[3];
  for (uint b = gl_GlobalInvocationID.x; b < blocks; b += stride) {
    const uint item = b / p.blocksPerItem;
    const uint block = b - item * p.blocksPerItem;
    const vec4 z = samplerNormal4(params.items[item].seedLo, params.items[item].seedHi, params.stage.stream, block);
    for (uint lane = 0u; lane < 4u; ++lane) {
      const uint index = 4u * block + lane;
      if (index >= p.perItem) break;
      const uint o = item * p.perItem + index;
      precise float v = sigma0 * z[lane];  // as gaussian_noise scales: bit-equal when initWeight is 0
#if SAMPLER_HAS_INIT
      if (initWeight != 0.0) v += initWeight * init[o];
#endif
      xs[o] = v;
      es[o] = v;
      ds[o] = 0.0;
      ps[o] = 0.0;
    }
  }
}
