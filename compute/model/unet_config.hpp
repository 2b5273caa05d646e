#pragma once
// The subset of diffusers' UNet2DModel configuration (config.json) that tessera runs.
// Parsing is strict: a key diffusers' UNet2DModel.__init__ does not take, a key tessera does not
// support, or a value outside the supported set is refused with an error naming the key and the
// value, so a model never runs with a setting silently ignored.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "strict_json.hpp"

namespace tessera::model {

enum class DownBlockType { Down, AttnDown, ResnetDownsample };
enum class UpBlockType { Up, AttnUp, ResnetUpsample };
enum class ResampleType { Conv, Resnet };  // downsample_type / upsample_type
enum class TimeScaleShift { Default, ScaleShift };
// class_embed_type: None is diffusers' null (an nn.Embedding when num_class_embeds is set);
// Timestep runs a float label through the timestep's sinusoids and its own TimestepEmbedding MLP.
enum class ClassEmbedType { None, Timestep };

const char* downBlockName(DownBlockType t);
const char* upBlockName(UpBlockType t);

// Field per config key, with diffusers' defaults. Keys that diffusers accepts but that change
// nothing at inference (dropout) are kept so the canonical form can be written back.
struct UnetConfig {
  std::optional<uint32_t> sampleHeight, sampleWidth;  // sample_size: null, an int, or [h, w]
  uint32_t inChannels = 3;
  uint32_t outChannels = 3;
  bool centerInputSample = false;
  bool flipSinToCos = true;
  int32_t freqShift = 0;
  std::vector<DownBlockType> downBlocks{DownBlockType::Down, DownBlockType::AttnDown, DownBlockType::AttnDown,
                                        DownBlockType::AttnDown};
  bool hasMidBlock = true;  // mid_block_type "UNetMidBlock2D" or null
  std::vector<UpBlockType> upBlocks{UpBlockType::AttnUp, UpBlockType::AttnUp, UpBlockType::AttnUp,
                                    UpBlockType::Up};
  std::vector<uint32_t> blockOutChannels{224, 448, 672, 896};
  uint32_t layersPerBlock = 2;
  double midBlockScaleFactor = 1.0;
  uint32_t downsamplePadding = 1;
  ResampleType downsampleType = ResampleType::Conv;
  ResampleType upsampleType = ResampleType::Conv;
  double dropout = 0.0;
  std::string actFn = "silu";
  std::optional<uint32_t> attentionHeadDim = 8;  // null: one head over all channels
  uint32_t normNumGroups = 32;
  std::optional<uint32_t> attnNormNumGroups;
  double normEps = 1e-5;
  TimeScaleShift resnetTimeScaleShift = TimeScaleShift::Default;
  bool addAttention = true;
  ClassEmbedType classEmbedType = ClassEmbedType::None;
  std::optional<uint32_t> numClassEmbeds;
  std::optional<uint32_t> numTrainTimesteps;  // only used by embeddings tessera does not support
  std::optional<uint32_t> timeEmbeddingDim;   // null: 4 × block_out_channels[0]
  std::string diffusersVersion;               // _diffusers_version, recorded, "" when absent

  bool timestepClassEmbedding() const { return classEmbedType == ClassEmbedType::Timestep; }
  uint32_t timeEmbedDim() const { return timeEmbeddingDim.value_or(4 * blockOutChannels.at(0)); }

  // Throws Error(Unsupported) for an unknown key or unsupported value, Error(InvalidArgument)
  // for a value of the wrong type or a configuration diffusers itself would reject. The object
  // must not contain tessera's own section (see model_metadata.hpp); split it off first.
  static UnetConfig fromJson(const Json& config);
  // The canonical form: every key, defaults written out, as diffusers' config.json spells it.
  Json toJson() const;
};

}  // namespace tessera::model
