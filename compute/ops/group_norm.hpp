#pragma once
// GroupNorm over [N,C,H,W] as diffusers' ResnetBlock2D uses it, with its neighbours fused:
//   h = x (+ preAdd[n,c])                      time conditioning "default", before norm2
//   h = (h - mean) / sqrt(var + eps) * gamma + beta    per (n, group), biased variance
//   h = h * (1 + scale[n,c]) + shift[n,c]      time conditioning "scale_shift", after norm2
//   h = silu(h)
// The input may come in two parts (a concat along channels, read where the parts are).
// Statistics are fp32 and never leave the workgroup: no scratch buffer, one dispatch.
#include "program.hpp"

namespace tessera::ops {

enum class GroupNormVariant { Auto, Scalar, Vec4 };

struct GroupNormParams {
  uint32_t groups = 32;
  float eps = 1e-5f;
  bool silu = false;
  // Write, instead of the normalised tensor, what its consumer needs to normalise on its own loads:
  // `out` is then an fp32 [N,C,1,4] tensor holding per (n, c) (center, scale, shift, 0) with
  // h = (x - center) * scale + shift (preAdd and scaleShift included; SiLU, if any, is applied by
  // the consumer, so `silu` must be false). The statistics are those of the full op. A convolution
  // that reads its input this way (Conv2dIO::inputNorm) saves the normalised tensor's write and
  // read, and the arena its memory.
  bool coefficientsOnly = false;
};

struct GroupNormIO {
  Tensor in;                           // [N,C,H,W]
  Tensor gamma;                        // C values (required: diffusers' GroupNorm is always affine)
  Tensor beta;                         // C values
  Tensor out;                          // like `in`; may be `in` itself (coefficientsOnly: [N,C,1,4] fp32)
  const Tensor* preAdd = nullptr;      // [N,C,1,1] or null
  const Tensor* scaleShift = nullptr;  // [N,2C,1,1] (scale = first C, shift = last C) or null
  // [N,C2,H,W] or null: the input is cat(in, in2) along channels, read in place (an up block's
  // skip); C is then in's channels + C2, and out, gamma, beta, preAdd and scaleShift are for C.
  const Tensor* in2 = nullptr;
};

// The variant Auto picks for this shape: Vec4 when H*W is a multiple of 4.
GroupNormVariant groupNormVariant(const vk::DeviceFacts& facts, const Shape4& in);

// Invocations per workgroup (one workgroup per (n, group)); a power of two. The device's
// preference, raised where one invocation would otherwise loop more often than the driver allows
// (DeviceFacts::loopIterationLimit); Unsupported when even the largest workgroup would.
uint32_t groupNormLocalSize(const vk::DeviceFacts& facts, const Shape4& in, uint32_t groups,
                            GroupNormVariant variant = GroupNormVariant::Auto);

// Loop iterations of one invocation of the kernel for this shape and workgroup size.
uint64_t groupNormLoopIterations(const vk::DeviceFacts& facts, const Shape4& in, uint32_t groups,
                                 GroupNormVariant variant, uint32_t localSize);

// `localSize` 0 takes groupNormLocalSize(); another power of two lets a test run the configuration
// of a different kind of device (refused where it would pass the device's loop limit).
void groupNorm(Program& prog, vk::KernelCache& kernels, const GroupNormIO& io, const GroupNormParams& params,
               GroupNormVariant variant = GroupNormVariant::Auto, uint32_t localSize = 0);

}  // namespace tessera::ops
