#pragma once
// Everything the sampler does between two network evaluations, as one elementwise pass: guidance,
// the denoised image, the stage's linear update, fresh noise, and the inpainting blend.
#include "sampler/sampler_state.hpp"

namespace tessera::sampler {

// Applies the stage row of `params` (formulas in sampler_params.hpp) to the state, in place.
// netOut: [nb, C, H, W] in the network's storage type, nb = n or 2n (then rows n..2n-1 are the
// null-class outputs and F = Fu + guidance*(Fc - Fu)); or [nb, 2C, H, W], whose first C channels
// are F and the others the variance half that kLearnedVariance / kLearnedRange read. init (fp32, the state's shape) and mask
// (fp32 [n, 1, H, W], 1 = keep) are given together or not at all; without them the kInpaint flag
// is ignored.
void samplerUpdate(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const Tensor& netOut,
                   const SamplerState& state, const Tensor* init = nullptr, const Tensor* mask = nullptr);

}  // namespace tessera::sampler
