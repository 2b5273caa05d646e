#pragma once
// Sinusoidal timestep embedding, diffusers' get_timestep_embedding on the GPU.
#include "program.hpp"

namespace tessera::ops {

// Defaults are get_timestep_embedding's; UNet2DModel's time_proj uses flipSinToCos = true and
// downscaleFreqShift = freq_shift (0 by default).
struct TimestepEmbeddingParams {
  bool flipSinToCos = false;  // [cos, sin] instead of [sin, cos]
  float downscaleFreqShift = 1.0f;
  float scale = 1.0f;  // multiplies the sin/cos argument, as in diffusers
  float maxPeriod = 10000.0f;
};

// timesteps: N values, fp32 whatever the storage precision (the sampler writes them on the GPU).
// out: [N, dim, 1, 1] in the storage precision, with half = dim/2:
//   out[n, i] = sin(a_i), out[n, half + i] = cos(a_i) (swapped when flipped), i < half,
//   a_i = scale * t_n * exp(-ln(maxPeriod) * i / (half - downscaleFreqShift)),
//   and out[n, dim-1] = 0 when dim is odd.
void timestepEmbedding(Program& prog, vk::KernelCache& kernels, const Tensor& timesteps, const Tensor& out,
                       const TimestepEmbeddingParams& params = {});

}  // namespace tessera::ops
