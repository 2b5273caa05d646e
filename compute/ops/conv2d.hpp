#pragma once
// 2-D convolution, NCHW: kernel 1 or 3, stride 1 or 2, zero or circular (wrap-around) padding on
// both sides or after only (diffusers' Downsample2D with padding 0), optional bias, optional fused
// residual add and output scale, optional second input read in place of a channel concat.
// out = outputScale * (conv(cat(in, in2)) + bias + residual).
//
// A Conv2d is built once per layer (at model load): it picks its variant from the device's facts,
// packs the weights into the layout that variant reads, and says how much scratch it needs. It then
// records any number of dispatches. See docs/KERNELS.md for the layouts and why each variant exists.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "program.hpp"
#include "vk/gpu.hpp"

namespace tessera::ops {

enum class Padding : uint8_t { Zeros, Circular };

// Where a 3x3 kernel's padding goes. Both: one row/column before and after (PyTorch's padding=1).
// After: one row/column after only, input coordinate o*stride + k, as diffusers' Downsample2D with
// padding=0 does (F.pad(x, (0, 1, 0, 1)), then a padding-0 conv); circular, that row/column is
// row/column 0 again.
enum class PadPlacement : uint8_t { Both, After };
const char* padPlacementName(PadPlacement p);

struct Conv2dParams {
  uint32_t inChannels = 0;   // total, including a second input
  uint32_t in2Channels = 0;  // of those, how many come from the second input (0: none)
  uint32_t outChannels = 0;
  uint32_t kernel = 3;  // 1 or 3 (3x3 pads by 1, 1x1 has no padding)
  uint32_t stride = 1;  // 1 or 2
  Padding padding = Padding::Zeros;
  bool bias = true;
  PadPlacement padPlacement = PadPlacement::Both;  // After: 3x3 only, not Winograd or Pointwise

  // Rows/columns of padding before index 0, and in all (before + after), along each axis.
  uint32_t padBefore() const { return kernel == 3 && padPlacement == PadPlacement::Both ? 1 : 0; }
  uint32_t padTotal() const { return kernel == 1 ? 0 : (padPlacement == PadPlacement::Both ? 2 : 1); }
};

enum class Conv2dVariant : uint8_t {
  Auto,       // chosen by Conv2d::choose from the device's facts
  Direct,     // one invocation per output; no subgroup operations; any device
  Subgroup,   // one lane per output channel, a pixel block per lane, input shared by shuffles (CPUs)
  Winograd,   // F(4,3) for 3x3 stride 1: input transform, batched GEMM, output transform
  Pointwise,  // 1x1 stride 1 as a GEMM over pixels, input shared by shuffles (CPUs)
  Tiled,      // weights and input staged in shared memory by a 256-invocation workgroup (GPUs)
};
const char* variantName(Conv2dVariant v);

struct Conv2dIO {
  Tensor in;
  const Tensor* in2 = nullptr;  // channels [c1, c1+c2) when given
  Tensor weights;               // packWeights() output, uploaded in the op's storage type
  Tensor out;
  const Tensor* residual = nullptr;  // same shape as out; must not alias in, in2 or out
  const Tensor* scratch = nullptr;   // at least scratchBytes(in.shape) bytes, when that is non-zero
  float outputScale = 1.0f;
  // Overrides params().padding for this dispatch (3x3 only): the packed weights do not depend
  // on it, so one layer serves tileable and plain requests.
  std::optional<Padding> padding;
  // The GroupNorm before the layer, folded into its loads (only where foldsInputNorm()): the layer
  // reads (x - c.x) * c.y + c.z per value x of channel k of image n, c the vec4 at [n][k] of this
  // fp32 [N, inChannels, 1, 4] tensor (groupNorm with coefficientsOnly), then SiLU when
  // inputNormSilu; the padding stays zero (or wraps) after the normalisation, as when the
  // normalised tensor is the input.
  const Tensor* inputNorm = nullptr;
  bool inputNormSilu = false;
};

class Conv2d {
 public:
  using Variant = Conv2dVariant;

  // Throws InvalidArgument for unsupported parameters, or when `variant` cannot run them
  // (Winograd needs 3x3 stride 1, Pointwise 1x1 stride 1, neither pads after only) or cannot run
  // on this device.
  Conv2d(const vk::DeviceFacts& facts, Conv2dParams params, DType dtype, Variant variant = Variant::Auto);

  // The one place a variant is chosen from the device's facts.
  static Variant choose(const vk::DeviceFacts& facts, const Conv2dParams& params, DType dtype);

  Variant variant() const { return variant_; }
  const Conv2dParams& params() const { return p_; }
  DType dtype() const { return dtype_; }

  // Elements of the packed weight tensor (weights, then bias when the layer has one).
  std::size_t packedWeightCount() const;
  // `oihw`: [outChannels][inChannels][kernel][kernel]; `bias`: outChannels values or empty.
  std::vector<float> packWeights(std::span<const float> oihw, std::span<const float> bias) const;
  // Bytes of intermediate buffer the variant needs for an input of this shape (0: none); when the
  // dispatches are split to fit the storage-buffer range, the scratch of one block.
  std::size_t scratchBytes(Shape4 in) const;
  Shape4 outputShape(Shape4 in) const;
  // The padding a dispatch with these arguments uses.
  Padding paddingFor(const Conv2dIO& io) const { return p_.kernel == 1 ? p_.padding : io.padding.value_or(p_.padding); }

  // Whether the variant can normalise its input on its loads (Conv2dIO::inputNorm): Winograd.
  bool foldsInputNorm() const { return variant_ == Variant::Winograd; }

  // Validates shapes, types and ranges, then appends the variant's dispatches.
  void record(Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) const;

  // Multiply-adds x2 of the convolution itself, whatever the variant (for GFLOP/s figures).
  double flops(Shape4 in) const;

 private:
  void validate(const Conv2dIO& io) const;
  void recordDirect(Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) const;
  void recordTiled(Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) const;

  Conv2dParams p_;
  DType dtype_;
  Variant variant_;
  uint32_t subgroupSize_;
  uint64_t offsetAlignment_;
  // The device's largest storage-buffer binding (facts.maxStorageBufferRange): variants whose
  // intermediate buffers would exceed it split their dispatches so each binding fits. Tests
  // build layers from facts with a lowered range to exercise the split on small shapes.
  uint64_t storageRange_;
};

}  // namespace tessera::ops
