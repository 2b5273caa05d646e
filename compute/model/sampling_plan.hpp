#pragma once
// How a package is sampled, decided once from its metadata: the converter calls this before it
// writes a package and the runtime when it loads one, so a package the converter writes is one
// the generator can run, and a model it cannot is refused at conversion, naming the key.
#include <cstdint>
#include <optional>
#include <string>

#include "model_metadata.hpp"
#include "scheduler_config.hpp"

namespace tessera::model {

enum class Parameterisation { Edm, Epsilon, VPrediction, ConsistencyModel };

struct SamplingPlan {
  Parameterisation kind = Parameterisation::Edm;
  std::optional<SchedulerSpec> scheduler;  // the package's scheduler config, when it has one
  std::string sampler;                     // the default: "euler", "heun", "dpmpp_2m", "ddim", "ddpm", "consistency"
  bool learnedVariance = false;            // out_channels = 2 x in_channels: a variance half follows the output
  uint32_t imageChannels = 3;              // the image (state) channels: the base's in_channels
};

// Throws Error(Unsupported) naming what cannot be sampled: no EDM sigma_data and no scheduler,
// a variance half without a DDPM-family scheduler, a learned variance_type without a variance
// half, channels that are not an image's (1 to 4, out = in or 2 x in).
SamplingPlan samplingPlan(const ModelMetadata& metadata);

}  // namespace tessera::model
