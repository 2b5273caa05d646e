#pragma once
// A diffusers scheduler_config.json, mapped to what tessera samples with. The converter calls this
// at conversion time and the runtime at load, so the two never disagree on what runs: a scheduler
// class tessera does not run, a key it does not know, or a value that would change the sampling
// in a way it does not implement is refused here, with the key's name.
//
//   DDPMScheduler                   -> ddpm (ancestral; fixed or learned variance)
//   DDIMScheduler                   -> ddim (eta 0)
//   EulerDiscreteScheduler          -> euler, with diffusers' float timesteps and interpolated sigmas
//   CMStochasticIterativeScheduler  -> consistency, its Karras sigmas and boundary-condition scalings
//   no _class_name                  -> a DDPM-family noise schedule, sampled with ddim by default
#include <cstdint>
#include <string>

#include "strict_json.hpp"

namespace tessera::model {

enum class SchedulerClass { Unnamed, Ddpm, Ddim, EulerDiscrete, CmStochasticIterative };

struct SchedulerSpec {
  SchedulerClass cls = SchedulerClass::Unnamed;
  std::string className;  // as written ("" when the config has none)

  // DDPM / DDIM / Euler / unnamed: the discrete-time training schedule, with each class's
  // diffusers defaults for what the config leaves out.
  uint32_t numTrainTimesteps = 1000;
  double betaStart = 0.0001, betaEnd = 0.02;
  std::string betaSchedule = "linear";     // linear, scaled_linear, squaredcos_cap_v2
  std::string predictionType = "epsilon";  // epsilon, v_prediction
  std::string timestepSpacing = "leading"; // leading, trailing, linspace (Euler's default)
  uint32_t stepsOffset = 0;
  bool setAlphaToOne = true;  // DDIM
  bool clipSample = true;     // DDPM / DDIM (Euler never clips)
  double clipSampleRange = 1.0;
  // DDPM: fixed_small, fixed_small_log, fixed_large, fixed_large_log, learned, learned_range.
  std::string varianceType = "fixed_small";

  // CMStochasticIterativeScheduler (Song et al. 2023, as diffusers writes it).
  double sigmaMin = 0.002, sigmaMax = 80.0, sigmaData = 0.5, sNoise = 1.0, rho = 7.0;
  bool clipDenoised = true;

  bool discrete() const { return cls != SchedulerClass::CmStochasticIterative; }
  // The variance half of a model whose out_channels are twice its in_channels is used.
  bool learnedVariance() const { return varianceType == "learned" || varianceType == "learned_range"; }
  // What tessera runs it with: "ddpm", "ddim", "euler" or "consistency".
  const char* sampler() const;
  // The pipeline's own default num_inference_steps (DDPMPipeline 1000, DDIM / Euler 50, CM 1).
  uint32_t defaultSteps() const;
};

// Throws Error(Unsupported) naming the class or the key and value, Error(InvalidArgument) for a
// value of the wrong type or range.
SchedulerSpec parseSchedulerConfig(const Json& config);

}  // namespace tessera::model
