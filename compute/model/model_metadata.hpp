#pragma once
// What a package says besides its weights: the architecture (a UnetConfig), tessera's own
// section (padding, classes, EDM noise range, step schedules, sampler defaults, a data
// summary), the training noise schedule when the source model had one, and provenance.
// docs/FORMAT.md lists every key.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "strict_json.hpp"
#include "unet_config.hpp"

namespace tessera::model {

enum class PaddingMode { Zeros, Circular };
// A pipeline stage's role: the base makes the layout from noise; a super-resolution stage
// (cascaded diffusion) refines the upsampled output of the stage before it (docs/FORMAT.md).
enum class StageKind { Base, SuperResolution };

// The "tessera" object of config.json, carried into the package. Strict like the config:
// unknown keys and values of the wrong type or range are refused.
struct TesseraSection {
  PaddingMode paddingMode = PaddingMode::Zeros;
  std::vector<std::string> classes;   // names of the class labels 0..n-1
  std::optional<uint32_t> nullClass;  // the label used for the unconditional branch of guidance
  std::optional<double> sigmaData, sigmaMin, sigmaMax;
  std::optional<double> rho;  // Karras et al.'s schedule exponent for the teacher samplers (7 when unset)
  std::map<uint32_t, std::vector<double>> stepSigmas;  // step count -> the sigmas evaluated, descending
  std::optional<uint32_t> defaultSteps;
  std::optional<std::string> sampler;  // "euler", "heun", "dpmpp_2m" or "consistency"
  std::optional<double> guidanceScale;
  Json data = nullptr;  // a free-form summary of the training data (an object), or null
  StageKind stage = StageKind::Base;
  std::optional<uint32_t> scaleFactor;  // super_resolution: 2 or 4
  std::optional<double> condSigma;      // super_resolution: the conditioning's noise level when sampling
  // super_resolution: the network denoises x - u, u the upsampled conditioning (tools/train/sr.py);
  // sigma_data is the residual's.
  bool residual = false;

  // Throws Error(InvalidArgument / Unsupported) naming the key ("tessera.<key>").
  static TesseraSection fromJson(const Json& section, const UnetConfig& config);
  Json toJson() const;
};

// A diffusers scheduler_config.json, checked by parseSchedulerConfig (scheduler_config.hpp: the
// classes, keys and values tessera runs). Returned as recorded.
Json checkNoiseSchedule(const Json& scheduler);

// A super-resolution stage of a package: its network and sampler plan. Its tensors are stored
// under the prefix `stages.<k>.` (k = 1 for the first stage after the base).
struct StageMetadata {
  UnetConfig architecture;
  TesseraSection tessera;
  Json provenance = Json::object();
};

struct ModelMetadata {
  UnetConfig architecture;
  TesseraSection tessera;
  std::optional<Json> trainingNoiseSchedule;
  Json provenance = Json::object();
  std::vector<StageMetadata> stages;  // empty: a one-stage package

  // The package's metadata document. Throws Error(CorruptModel) naming what is wrong.
  static ModelMetadata fromJson(const Json& metadata);
  Json toJson() const;
};

// Splits a diffusers config.json into the UNet2DModel part and tessera's section.
struct SourceConfig {
  UnetConfig unet;
  TesseraSection tessera;
};
SourceConfig parseSourceConfig(const Json& configJson);

// The stage after `previous` (the base when k == 1) must take its output: out_channels equal,
// in_channels twice that (image + conditioning), a super_resolution stage. Throws
// Error(InvalidArgument) naming stage k and the mismatch.
void checkStageChain(const UnetConfig& previous, const UnetConfig& next, const TesseraSection& nextSection,
                     std::size_t k);

inline std::string stagePrefix(std::size_t k) { return "stages." + std::to_string(k) + "."; }

}  // namespace tessera::model
