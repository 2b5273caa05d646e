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

tsr_sampler samplerByName(std::string_view name) {
  for (tsr_sampler s : {TSR_SAMPLER_EULER, TSR_SAMPLER_HEUN, TSR_SAMPLER_DPMPP_2M, TSR_SAMPLER_DDIM, TSR_SAMPLER_DDPM,
                        TSR_SAMPLER_CONSISTENCY})
    if (name == samplerName(s)) return s;
  fail(ErrorCode::InvalidArgument, "unknown sampler \"" + std::string(name) +
                                       "\" (known: euler, heun, dpmpp_2m, ddim, ddpm, consistency)");
}

sampler::SamplerKind samplerKind(int32_t s) {
  switch (s) {
    case TSR_SAMPLER_EULER: return sampler::SamplerKind::Euler;
    case TSR_SAMPLER_HEUN: return sampler::SamplerKind::Heun;
    case TSR_SAMPLER_DPMPP_2M: return sampler::SamplerKind::DpmPP2M;
    case TSR_SAMPLER_DDIM: return sampler::SamplerKind::Ddim;
    case TSR_SAMPLER_DDPM: return sampler::SamplerKind::Ddpm;
    case TSR_SAMPLER_CONSISTENCY: return sampler::SamplerKind::Consistency;
    default: break;
  }
  fail(ErrorCode::InvalidArgument, "sampler " + std::to_string(s) + " is not a tsr_sampler value");
}

ModelDefaults modelDefaults(const model::ModelPackage& package) {
  const model::ModelMetadata& m = package.metadata();
  const model::TesseraSection& t = m.tessera;
  const model::UnetConfig& c = package.layout().config;
  ModelDefaults d;
  const model::SamplingPlan plan = model::samplingPlan(m);
  d.kind = plan.kind;
  d.scheduler = plan.scheduler;
  d.learnedVariance = plan.learnedVariance;
  d.imageChannels = plan.imageChannels;
  d.sampler = samplerByName(plan.sampler);
  d.steps = defaultSteps(package, d, d.sampler);
  d.guidanceCapable = t.nullClass.has_value();
  d.guidance = d.guidanceCapable ? float(t.guidanceScale.value_or(1.0)) : 1.0f;
  d.sizeMultiple = 1u << (c.blockOutChannels.size() - 1);
  d.nativeSize = c.sampleHeight.value_or(0);
  return d;
}

void fillPlanInput(const model::ModelPackage& package, const ModelDefaults& d, sampler::PlanInput& in) {
  const model::TesseraSection& t = package.metadata().tessera;
  in.parameterization = d.kind == ModelKind::Epsilon       ? sampler::Parameterization::Epsilon
                        : d.kind == ModelKind::VPrediction ? sampler::Parameterization::VPrediction
                                                           : sampler::Parameterization::Edm;
  if (t.sigmaData) in.sigmaData = *t.sigmaData;
  if (t.sigmaMin) in.sigmaMin = *t.sigmaMin;
  if (t.sigmaMax) in.sigmaMax = *t.sigmaMax;
  if (t.rho) in.rho = *t.rho;
  in.schedule.reset();
  in.consistency.reset();
  if (d.kind == ModelKind::ConsistencyModel)
    in.consistency = sampler::ConsistencySchedule::fromSpec(*d.scheduler);
  else if (d.kind != ModelKind::Edm)
    in.schedule = sampler::NoiseSchedule::fromSpec(*d.scheduler);
  in.learnedVariance = d.learnedVariance;
  in.classCount = package.layout().config.numClassEmbeds.value_or(0);
  in.nullClass = t.nullClass.value_or(0);
}

uint32_t defaultSteps(const model::ModelPackage& package, const ModelDefaults& d, tsr_sampler sampler) {
  const model::TesseraSection& t = package.metadata().tessera;
  if (t.defaultSteps && (sampler == d.sampler || !t.sampler)) return *t.defaultSteps;
  // A diffusers scheduler's own sampler takes its pipeline's default step count.
  if (d.scheduler && !t.sampler && sampler == d.sampler) return d.scheduler->defaultSteps();
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
