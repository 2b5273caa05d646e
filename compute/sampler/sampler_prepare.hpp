#pragma once
// The network's inputs for one stage, written on the GPU from the sampler's state and the
// params buffer, so a whole generation records without a host round trip.
#include "sampler/sampler_state.hpp"

namespace tessera::sampler {

// For j < nb (nb = n, or 2n with classifier-free guidance: rows n..2n-1 are the null class):
//   netIn[j] = cIn * E[j mod n]       netIn: [nb, C, H, W], the network's storage type
//   timesteps[j] = cNoise             timesteps: nb values, fp32
//   classes[j] = one-hot(j < n ? items[j].classLabel : nullClass)   classes: [nb, K, 1, 1] in the
//                                     network's storage type, or null for unconditional models
// E is fp32 [n, C, H, W]; cIn, cNoise and nullClass come from the stage row. netIn may have more
// channels than E ([nb, C', H, W], C' > C: a cascade stage's input, whose channels C.. hold the
// conditioning); only its first C channels of each row are written.
void samplerPrepare(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const Tensor& e,
                    const Tensor& netIn, const Tensor& timesteps, const Tensor* classes = nullptr);

}  // namespace tessera::sampler
