#pragma once
// Counter-based Gaussian noise (Philox-4x32-10 + Box-Muller): the value at an index depends only
// on (seed, stream, index), so a seed gives the same noise at any batch size, in any dispatch
// order and on any device. The exact mapping is in shaders/gaussian_noise.comp and docs/KERNELS.md.
#include <cstdint>

#include "program.hpp"

namespace tessera::ops {

// out[j] = scale * normal(seed, stream, firstIndex + j) for every element j of `out` (any shape,
// either storage precision). `stream` separates independent uses of one seed (e.g. the step).
void gaussianNoise(Program& prog, vk::KernelCache& kernels, const Tensor& out, uint64_t seed, uint32_t stream,
                   uint64_t firstIndex = 0, float scale = 1.0f);

// The raw generator, for known-answer tests: for each of `count` items, reads 8 words from
// `items` (counter[4], key[2], 2 unused) and writes philox4x32_10(counter, key) as 4 words to `words`.
void philoxWords(Program& prog, vk::KernelCache& kernels, const BufferRef& items, const BufferRef& words,
                 uint32_t count);

}  // namespace tessera::ops
