#pragma once
// The network a UnetConfig describes, block by block, with diffusers' parameter names and
// shapes. The converter checks a checkpoint against tensors(), the package reader checks a
// package against it, and the graph builder walks the same blocks, so all three agree on what
// a config means.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "byte_io.hpp"
#include "unet_config.hpp"

namespace tessera::model {

struct TensorSpec {
  std::string name;
  std::vector<uint32_t> shape;  // PyTorch layout: OIHW for convolutions, [out, in] for linears
};

// diffusers' ResnetBlock2D: GroupNorm, SiLU, conv3x3, + time projection, GroupNorm, SiLU, conv3x3,
// plus a 1x1 shortcut when the channel count changes.
struct ResnetLayout {
  enum class Resample { None, AvgPool2x, Nearest2x };  // the resnet-style down/upsamplers
  std::string prefix;                                  // e.g. "down_blocks.1.resnets.0"
  uint32_t inChannels = 0;                             // including concatChannels
  uint32_t outChannels = 0;
  uint32_t concatChannels = 0;  // up blocks: channels of the skip tensor concatenated to the input
  bool hasShortcut = false;
  Resample resample = Resample::None;
  double outputScale = 1.0;  // the sum with the shortcut is divided by this
};

// diffusers' Attention as built for UNet2DModel blocks (residual, biases, optional GroupNorm).
struct AttentionLayout {
  std::string prefix;  // e.g. "mid_block.attentions.0"
  uint32_t channels = 0, heads = 0, headDim = 0;
  std::optional<uint32_t> normGroups;  // no GroupNorm when absent
  double outputScale = 1.0;
};

// A down- or upsampler: a (strided) 3x3 convolution, or a resnet with pooling / upsampling.
struct ResamplerLayout {
  enum class Kind { None, Conv, Resnet };
  Kind kind = Kind::None;
  std::string prefix;     // "<block>.downsamplers.0" / "<block>.upsamplers.0"
  uint32_t channels = 0;  // in = out
  uint32_t padding = 1;   // the downsampling conv: 1, or 0 with diffusers' right/bottom pad
  ResnetLayout resnet;    // Kind::Resnet
};

struct BlockLayout {
  std::string prefix;  // "down_blocks.i" / "up_blocks.i"
  uint32_t inChannels = 0, outChannels = 0;
  std::vector<ResnetLayout> resnets;
  std::vector<AttentionLayout> attentions;  // empty, or one per resnet
  ResamplerLayout resampler;
};

struct MidBlockLayout {
  std::vector<ResnetLayout> resnets;        // two
  std::vector<AttentionLayout> attentions;  // empty without attention
};

struct UnetLayout {
  UnetConfig config;
  uint32_t timeChannels = 0;  // the sinusoidal embedding's width, block_out_channels[0]
  uint32_t timeEmbedDim = 0;
  std::vector<BlockLayout> down, up;
  std::optional<MidBlockLayout> mid;

  // Throws Error(InvalidArgument) for a configuration diffusers could not build (a GroupNorm
  // whose groups do not divide its channels) and Error(Unsupported) for attention widths that
  // do not split into whole heads.
  static UnetLayout derive(const UnetConfig& config);
  // Every parameter tensor of the model, in a fixed order; names are diffusers' state_dict keys.
  std::vector<TensorSpec> tensors() const;
};

}  // namespace tessera::model
