#include "sampling_plan.hpp"

#include "error.hpp"

namespace tessera::model {

SamplingPlan samplingPlan(const ModelMetadata& m) {
  const TesseraSection& t = m.tessera;
  const UnetConfig& c = m.architecture;
  SamplingPlan p;
  if (m.trainingNoiseSchedule) p.scheduler = parseSchedulerConfig(*m.trainingNoiseSchedule);
  if (t.sigmaData) {
    p.kind = Parameterisation::Edm;
  } else if (p.scheduler) {
    p.kind = !p.scheduler->discrete()                       ? Parameterisation::ConsistencyModel
             : p.scheduler->predictionType == "v_prediction" ? Parameterisation::VPrediction
                                                             : Parameterisation::Epsilon;
  } else {
    throw Error(ErrorCode::Unsupported,
                "the model has neither tessera.sigma_data (an EDM denoiser) nor a scheduler config "
                "(a diffusers scheduler_config.json): tessera cannot tell how to sample from it");
  }
  if (t.stage == StageKind::SuperResolution) {  // reads image and conditioning, makes the image
    p.imageChannels = c.outChannels;
    p.sampler = t.sampler ? *t.sampler : t.stepSigmas.empty() ? "dpmpp_2m" : "consistency";
    return p;
  }
  p.imageChannels = c.inChannels;
  const bool discrete = p.kind == Parameterisation::Epsilon || p.kind == Parameterisation::VPrediction;
  if (c.outChannels == 2 * c.inChannels) {
    if (!discrete)
      throw Error(ErrorCode::Unsupported, "config key \"out_channels\": " + std::to_string(c.outChannels) +
                                              " from " + std::to_string(c.inChannels) +
                                              " in_channels (a variance half) is only read with a DDPM-family "
                                              "scheduler (DDPM, DDIM, Euler)");
    p.learnedVariance = true;
  } else if (c.outChannels != c.inChannels) {
    throw Error(ErrorCode::Unsupported, "config key \"out_channels\": " + std::to_string(c.outChannels) +
                                            " from " + std::to_string(c.inChannels) +
                                            " in_channels; a texture model maps 1 to 4 channels to as many "
                                            "(or twice as many, with a learned variance)");
  }
  if (p.imageChannels < 1 || p.imageChannels > 4)
    throw Error(ErrorCode::Unsupported, "config key \"in_channels\": " + std::to_string(c.inChannels) +
                                            "; tessera makes images of 1 to 4 channels");
  if (p.scheduler && p.scheduler->learnedVariance() && !p.learnedVariance)
    throw Error(ErrorCode::Unsupported, "scheduler config key \"variance_type\": \"" + p.scheduler->varianceType +
                                            "\" needs a model whose out_channels are twice its in_channels, not " +
                                            std::to_string(c.outChannels) + " for " + std::to_string(c.inChannels));
  if (t.sampler)
    p.sampler = *t.sampler;
  else if (p.kind != Parameterisation::Edm)
    p.sampler = p.scheduler->sampler();
  else
    p.sampler = t.stepSigmas.empty() ? "dpmpp_2m" : "consistency";
  return p;
}

}  // namespace tessera::model
