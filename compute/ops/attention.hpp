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

// Queries are processed in blocks: one block is R query rows of a run of (batch, head) pairs,
// and its fp32 scores (pairs x R x tokens) are all the score memory the op holds, so the scratch
// grows linearly in tokens. Up to this many bytes of scores per block; more only where 32 query
// rows of one pair need more (past 32768 tokens). 4 MiB ran as fast as one block of the whole
// map (docs/KERNELS.md).
constexpr std::size_t kAttentionScoreBlockBytes = std::size_t(4) << 20;

// The block shape attention() uses, from the shape alone (so scratch sizes are the same on
// every device): the whole map when its scores fit, else every pair with R a multiple of 32,
// else R = 32 and as many pairs as fit.
struct AttentionBlocks {
  uint32_t rows;   // query rows per block (the last block of a pair may have fewer)
  uint32_t pairs;  // (batch, head) pairs per block (the last run may have fewer)
};
AttentionBlocks attentionBlocks(const Shape4& shape, uint32_t headDim,
                                std::size_t scoreBlockBytes = kAttentionScoreBlockBytes);

// Bytes of scratch attention() needs for activations of this shape, head_dim and storage type:
// q, k and v (N*C*HW values each, storage type) and, for the fast kernels, one block of fp32
// scores and one fp32 per score row of the block; every part starts on a 256-byte boundary (the
// largest offset alignment Vulkan lets a device require). The same on every device, so a plan
// made for one fits all.
std::size_t attentionScratchBytes(const Shape4& shape, uint32_t headDim, DType dtype);

struct AttentionOptions {
  // Run the general kernels even where the fast ones apply: for tests and comparisons.
  bool generalKernels = false;
  // Bytes of scores per query block instead of kAttentionScoreBlockBytes (0): smaller blocks
  // let tests cross block edges on small maps and measurements compare block sizes. Larger
  // ones need more scratch than attentionScratchBytes reports.
  std::size_t scoreBlockBytes = 0;
};

// xn: the group-normalised input, x: the residual, out: the result, all [N, C, H, W]; q, k and
// v (each the size of xn) must fit the device's storage-buffer range, as each is bound whole.
// out may be x itself. scratch: only its buffer range is used, at least
// attentionScratchBytes(shape, headDim, dtype) bytes, not overlapping the other tensors.
void attention(Program& prog, vk::KernelCache& kernels, const Tensor& xn, const Tensor& x,
               const AttentionWeights& weights, const Tensor& scratch, const Tensor& out, uint32_t headDim,
               float rescaleOutputFactor = 1.0f, const AttentionOptions& options = {});

}  // namespace tessera::ops
