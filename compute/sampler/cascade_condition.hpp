#pragma once
// How a cascade stage receives the stage before's output (docs/SAMPLER.md, "Cascades"):
// conditionNoise clamps it and adds the noise-conditioning augmentation at the low resolution,
// upsamplePeriodic brings that to the stage's size beside the noisy image in the network input.
// Two dispatches, recorded once per stage of a job.
#include "sampler/sampler_state.hpp"

namespace tessera::sampler {

// low = clamp(x, -1, 1) + sigma * z, z[i, c, y, x] = normal(seed_i, stream, (c*h + y)*w + x)
// (the sampler's noise mapping, seeds from the params buffer's item rows). x and low fp32, same
// shape; sigma >= 0 (0 draws no noise).
void conditionNoise(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const Tensor& x,
                    const Tensor& low, float sigma, uint32_t stream);

// Bilinear, half-pixel centres, wrapping around, by an integer factor: low [n, C, h, w] fp32 into
// channels [channelOffset, channelOffset + C) of out [n, C', h*factor, w*factor] (fp32 or fp16).
void upsamplePeriodic(Program& prog, vk::KernelCache& kernels, const Tensor& low, const Tensor& out,
                      uint32_t factor, uint32_t channelOffset);

}  // namespace tessera::sampler
