#pragma once
// Spatial self-attention as diffusers' Attention with AttnProcessor2_0 computes it for
// UNet2DModel's attention blocks (residual_connection=True, bias=True, one head per head_dim
// channels), after the block's GroupNorm, which the graph runs as its own op:
//   tokens t = h*W + w; q/k/v = Linear(C -> C) of xn's tokens (to_q, to_k, to_v);
//   per head: o = softmax(q k^T * head_dim^-0.5) v (softmax in fp32);
//   out = (to_out.0(o) + x) / rescale_output_factor, back in [N, C, H, W].
#include <cstddef>

#include "program.hpp"

namespace tessera::ops {

// PyTorch layouts: weights [C_out, C_in] row-major, biases [C]. Only the element count of each
// tensor's shape is checked; its dtype must be the activations'.
struct AttentionWeights {
  Tensor toQ, toQBias;
  Tensor toK, toKBias;
  Tensor toV, toVBias;
  Tensor toOut, toOutBias;
};

// The cost is quadratic in tokens and one dispatch walks all of them; larger maps belong to a
// tiled kernel (and, on a display GPU, would risk the driver's timeout).
constexpr uint32_t kAttentionMaxTokens = 1024;

// Bytes of scratch attention() needs for activations of this shape, head_dim and storage type:
// q, k and v (N*C*HW values each, storage type) and, for the fast kernels, the fp32 scores
// (N*heads*HW*HW) and one fp32 per score row; every part starts on a 256-byte boundary (the
// largest offset alignment Vulkan lets a device require). The same on every device, so a plan
// made for one fits all.
std::size_t attentionScratchBytes(const Shape4& shape, uint32_t headDim, DType dtype);

struct AttentionOptions {
  // Run the general kernels even where the fast ones apply: for tests and comparisons.
  bool generalKernels = false;
};

// xn: the group-normalised input, x: the residual, out: the result, all [N, C, H, W] with
// H*W <= kAttentionMaxTokens. out may be x itself. scratch: only its buffer range is used, at
// least attentionScratchBytes(shape, headDim, dtype) bytes, not overlapping the other tensors.
void attention(Program& prog, vk::KernelCache& kernels, const Tensor& xn, const Tensor& x,
               const AttentionWeights& weights, const Tensor& scratch, const Tensor& out, uint32_t headDim,
               float rescaleOutputFactor = 1.0f, const AttentionOptions& options = {});

}  // namespace tessera::ops
