#pragma once
// The first dispatch of a generation: the starting state from each image's seed.
#include "sampler/sampler_state.hpp"

namespace tessera::sampler {

// X = E = initWeight*Init + sigma0*z, D = P = 0, reading sigma0 = stage.sigmaX,
// initWeight = stage.x[3] and the stream of z = stage.stream from the params buffer (plan()'s
// start row). z[i, c, y, x] = normal(seed_i, stream, (c*H + y)*W + x): exactly ops::gaussianNoise
// with seed_i and firstIndex 0 on image i alone, so an image does not depend on its batch.
// `init` (fp32, the state's shape) may be null: the init term is then dropped.
void samplerStart(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const SamplerState& state,
                  const Tensor* init = nullptr);

}  // namespace tessera::sampler
