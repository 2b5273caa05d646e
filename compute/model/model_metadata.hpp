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

  // Throws Error(InvalidArgument / Unsupported) naming the key ("tessera.<key>").
  static TesseraSection fromJson(const Json& section, const UnetConfig& config);
  Json toJson() const;
};

// A diffusers scheduler_config.json (DDPM / DDIM / Euler ... ): an object whose values are
// scalars or lists of numbers, with the well-known keys type-checked. Returned as recorded.
Json checkNoiseSchedule(const Json& scheduler);

struct ModelMetadata {
  UnetConfig architecture;
  TesseraSection tessera;
  std::optional<Json> trainingNoiseSchedule;
  Json provenance = Json::object();

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

}  // namespace tessera::model
