#include "model_defaults.hpp"

#include "error.hpp"

namespace tessera::runtime {

const char* samplerName(tsr_sampler s) {
  switch (s) {
    case TSR_SAMPLER_DEFAULT: return "default";
    case TSR_SAMPLER_EULER: return "euler";
    case TSR_SAMPLER_HEUN: return "heun";
    case TSR_SAMPLER_DPMPP_2M: return "dpmpp_2m";
    case TSR_SAMPLER_DDIM: return "ddim";
    case TSR_SAMPLER_DDPM: return "ddpm";
    case TSR_SAMPLER_CONSISTENCY: return "consistency";
    default: break;
  }
  return "unknown";
}

ModelDefaults modelDefaults(const model::ModelPackage& package) {
  const model::ModelMetadata& m = package.metadata();
  const model::TesseraSection& t = m.tessera;
  const model::UnetConfig& c = package.layout().config;
  ModelDefaults d;
  if (t.sigmaData) {
    d.kind = ModelKind::Edm;
  } else if (m.trainingNoiseSchedule) {
    const auto& s = *m.trainingNoiseSchedule;
    const std::string pred = s.contains("prediction_type") ? s["prediction_type"].get<std::string>() : "epsilon";
    if (pred == "epsilon")
      d.kind = ModelKind::Epsilon;
    else if (pred == "v_prediction")
      d.kind = ModelKind::VPrediction;
    else
      fail(ErrorCode::Unsupported, "the model's prediction_type \"" + pred + "\" is not supported (epsilon, v_prediction)");
  } else {
    fail(ErrorCode::Unsupported,
         "the model has neither tessera.sigma_data (an EDM denoiser) nor a training noise schedule "
         "(a diffusers scheduler_config.json): tessera cannot tell how to sample from it");
  }
  if (t.sampler) {
    const std::string& s = *t.sampler;
    d.sampler = s == "euler" ? TSR_SAMPLER_EULER
                : s == "heun" ? TSR_SAMPLER_HEUN
                : s == "consistency" ? TSR_SAMPLER_CONSISTENCY
                                     : TSR_SAMPLER_DPMPP_2M;
  } else if (d.kind != ModelKind::Edm) {
    d.sampler = TSR_SAMPLER_DDIM;
  } else if (!t.stepSigmas.empty()) {
    d.sampler = TSR_SAMPLER_CONSISTENCY;
  }
  d.steps = defaultSteps(package, d, d.sampler);
  d.guidanceCapable = t.nullClass.has_value();
  d.guidance = d.guidanceCapable ? float(t.guidanceScale.value_or(1.0)) : 1.0f;
  d.sizeMultiple = 1u << (c.blockOutChannels.size() - 1);
  d.nativeSize = c.sampleHeight.value_or(0);
  return d;
}

uint32_t defaultSteps(const model::ModelPackage& package, const ModelDefaults& d, tsr_sampler sampler) {
  const model::TesseraSection& t = package.metadata().tessera;
  if (t.defaultSteps && (sampler == d.sampler || !t.sampler)) return *t.defaultSteps;
  switch (sampler) {
    case TSR_SAMPLER_CONSISTENCY:
      return t.stepSigmas.empty() ? 2 : t.stepSigmas.begin()->first == 1 && t.stepSigmas.size() > 1
                                             ? std::next(t.stepSigmas.begin())->first
                                             : t.stepSigmas.begin()->first;
    case TSR_SAMPLER_HEUN: return 18;
    case TSR_SAMPLER_DDIM: return 50;
    case TSR_SAMPLER_DDPM: return 100;
    default: return 16;
  }
}

}  // namespace tessera::runtime
