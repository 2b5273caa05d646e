#pragma once
// Fully connected layer on [N,K] rows: out[n,m] = sum_k x[n,k] * w[m,k] + bias[m], with the
// SiLUs that diffusers puts around it fused: on the input (ResnetBlock2D's
// time_emb_proj(silu(temb))) and on the output (TimestepEmbedding's linear_1 -> silu).
// Weights stay in PyTorch's [M,K] layout: a row per output is what the kernel walks, so there is
// nothing to pre-pack.
#include "program.hpp"

namespace tessera::ops {

struct LinearParams {
  bool siluInput = false;
  bool siluOutput = false;
};

struct LinearIO {
  Tensor in;                     // [N,K,1,1]
  Tensor weight;                 // [M,K,1,1]
  Tensor out;                    // [N,M,1,1]
  const Tensor* bias = nullptr;  // M values or null
};

enum class LinearVariant { Auto, Scalar, Vec4 };

// The variant Auto picks: Vec4 when K (inFeatures) is a multiple of 4.
LinearVariant linearVariant(const vk::DeviceFacts& facts, uint32_t inFeatures);

void linear(Program& prog, vk::KernelCache& kernels, const LinearIO& io, const LinearParams& params = {},
            LinearVariant variant = LinearVariant::Auto);

}  // namespace tessera::ops
