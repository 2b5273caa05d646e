// The Gaussian noise of the sampler: element `index` of an image's noise for (seed, stream) is
// exactly what shaders/gaussian_noise.comp writes at that index (same Philox counter and key,
// same Box-Muller, the same `precise` operations), so a seed gives the same texture at any batch
// size, at any position in the batch, and through either op.
#ifndef TESSERA_SAMPLER_NOISE_GLSL
#define TESSERA_SAMPLER_NOISE_GLSL

#include "philox.glsl"
#include "box_muller.glsl"

// Elements 4*block .. 4*block+3 of one image's noise; an image holds fewer than 2^32 elements,
// so the counter's high word is 0.
vec4 samplerNormal4(uint seedLo, uint seedHi, uint stream, uint block) {
  const uvec4 w = philox4x32_10(uvec4(block, 0u, stream, 0u), uvec2(seedLo, seedHi));
  return vec4(boxMuller(w.x, w.y), boxMuller(w.z, w.w));
}

#endif
