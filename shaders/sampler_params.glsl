// The sampler's params buffer (std430), always at binding 0 of the sampler shaders. Mirrored by
// compute/sampler/sampler_params.hpp, which documents every field and checks the offsets.
// Stage row at byte 0 (32 words), then one 4-word row per image of the batch.
#ifndef TESSERA_SAMPLER_PARAMS_GLSL
#define TESSERA_SAMPLER_PARAMS_GLSL

const uint kStoreDenoised = 1u;
const uint kInpaint = 2u;
const uint kClipDenoised = 4u;
const uint kLearnedVariance = 8u;
const uint kLearnedRange = 16u;

struct StageParams {
  float cIn;
  float cNoise;
  float cSkip;
  float cOut;
  float guidance;
  float x[5];  // Xn = x0*X + x1*D + x2*P + x3*E + x4*z (+ fX*F)
  float e[5];  // En, the same terms
  float sigmaX;
  float sigmaE;
  uint stream;
  uint flags;
  uint nullClass;
  uint classCount;
  float clipRange;
  float fX;
  float fE;
  float minLog;  // kLearnedRange's log-variance bounds
  float maxLog;
  uint spare[6];
};

struct ItemParams {
  uint seedLo;
  uint seedHi;
  uint classLabel;
  uint flags;
};

layout(std430, binding = 0) readonly buffer SamplerParams {
  StageParams stage;
  ItemParams items[];
} params;

#endif
