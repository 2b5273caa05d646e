#pragma once
// What a model recommends when a request leaves a choice open, derived from its package once.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model_package.hpp"
#include "sampler/schedule.hpp"
#include "sampling_plan.hpp"
#include "tessera/tessera.h"

namespace tessera::runtime {

// Edm: tessera's own EDM denoisers; Epsilon / VPrediction: a diffusers DDPM-family schedule;
// ConsistencyModel: a CMStochasticIterativeScheduler model (boundary-condition scalings).
using ModelKind = model::Parameterisation;

struct ModelDefaults {
  ModelKind kind = ModelKind::Edm;
  tsr_sampler sampler = TSR_SAMPLER_DPMPP_2M;
  uint32_t steps = 16;
  float guidance = 1.0f;
  uint32_t sizeMultiple = 1;
  uint32_t nativeSize = 0;
  bool guidanceCapable = false;  // has a null class
  std::optional<model::SchedulerSpec> scheduler;  // the package's scheduler, when it has one
  // out_channels = 2 x in_channels: the network's output has a variance half after the model output.
  bool learnedVariance = false;
  uint32_t imageChannels = 3;  // the state's channels (in_channels of the base)
};

// Throws Error(Unsupported) for a package tessera cannot sample from (no EDM sigma_data and no
// scheduler, or a network whose channels do not fit its sampler).
ModelDefaults modelDefaults(const model::ModelPackage& package);
const char* samplerName(tsr_sampler s);
// The tsr_sampler of a name samplerName gives ("ddpm", ...); throws InvalidArgument listing them.
tsr_sampler samplerByName(std::string_view name);
// The sampler plan's kind of a tsr_sampler value (not DEFAULT); throws InvalidArgument otherwise.
sampler::SamplerKind samplerKind(int32_t s);
// The request-independent part of a plan's input: parameterisation, noise range, the discrete
// or consistency schedule, the variance half. (Allocates: call it at creation.)
void fillPlanInput(const model::ModelPackage& package, const ModelDefaults& d, sampler::PlanInput& in);
// The default step count of `sampler` for this model (the recorded one for its own sampler).
uint32_t defaultSteps(const model::ModelPackage& package, const ModelDefaults& d, tsr_sampler sampler);

}  // namespace tessera::runtime
