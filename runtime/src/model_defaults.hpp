#pragma once
// What a model recommends when a request leaves a choice open, derived from its package once.
#include <cstdint>
#include <string>

#include "model_package.hpp"
#include "tessera/tessera.h"

namespace tessera::runtime {

enum class ModelKind { Edm, Epsilon, VPrediction };

struct ModelDefaults {
  ModelKind kind = ModelKind::Edm;
  tsr_sampler sampler = TSR_SAMPLER_DPMPP_2M;
  uint32_t steps = 16;
  float guidance = 1.0f;
  uint32_t sizeMultiple = 1;
  uint32_t nativeSize = 0;
  bool guidanceCapable = false;  // has a null class
};

// Throws Error(Unsupported) for a package tessera cannot sample from (no EDM sigma_data and no
// training noise schedule).
ModelDefaults modelDefaults(const model::ModelPackage& package);
const char* samplerName(tsr_sampler s);
// The default step count of `sampler` for this model (the recorded one for its own sampler).
uint32_t defaultSteps(const model::ModelPackage& package, const ModelDefaults& d, tsr_sampler sampler);

}  // namespace tessera::runtime
