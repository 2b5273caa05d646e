#include "scheduler_config.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "error.hpp"

namespace tessera::model {
namespace {

[[noreturn]] void badValue(const std::string& key, const Json& v, const std::string& expected) {
  throw Error(ErrorCode::InvalidArgument,
              "scheduler config key \"" + key + "\": " + jsonShort(v) + " is not " + expected);
}

[[noreturn]] void unsupported(const std::string& what) {
  throw Error(ErrorCode::Unsupported, "scheduler config: " + what);
}

const Json* field(const Json& c, const char* key) {
  auto it = c.find(key);
  return it == c.end() || it->is_null() ? nullptr : &*it;
}

double number(const Json& c, const char* key, double fallback) {
  const Json* v = field(c, key);
  if (!v) return fallback;
  if (!v->is_number() || !std::isfinite(v->get<double>())) badValue(key, *v, "a finite number");
  return v->get<double>();
}

double positive(const Json& c, const char* key, double fallback) {
  const double v = number(c, key, fallback);
  if (!(v > 0)) badValue(key, c[key], "a positive number");
  return v;
}

uint32_t count(const Json& c, const char* key, uint32_t fallback, uint32_t lo) {
  const Json* v = field(c, key);
  if (!v) return fallback;
  if (!isUnsignedInteger(*v) || v->get<uint64_t>() < lo || v->get<uint64_t>() > (1u << 24))
    badValue(key, *v, "an integer in [" + std::to_string(lo) + ", 2^24]");
  return uint32_t(v->get<uint64_t>());
}

bool boolean(const Json& c, const char* key, bool fallback) {
  const Json* v = field(c, key);
  if (!v) return fallback;
  if (!v->is_boolean()) badValue(key, *v, "true or false");
  return v->get<bool>();
}

std::string text(const Json& c, const char* key, const std::string& fallback) {
  const Json* v = field(c, key);
  if (!v) return fallback;
  if (!v->is_string()) badValue(key, *v, "a string");
  return v->get<std::string>();
}

std::string oneOf(const Json& c, const char* key, const std::string& fallback, std::initializer_list<const char*> ok) {
  const std::string v = text(c, key, fallback);
  std::string list;
  for (const char* o : ok) {
    if (v == o) return v;
    list += (list.empty() ? "" : ", ") + std::string(o);
  }
  unsupported(std::string(key) + " \"" + v + "\" is not supported (" + list + ")");
}

// A key whose only value tessera runs is its default (or null).
void onlyDefault(const Json& c, const char* key, const Json& value, const std::string& why) {
  const Json* v = field(c, key);
  if (v && *v != value) unsupported(std::string(key) + " " + jsonShort(*v) + " is not supported (" + why + ")");
}

// Keys every DDPM-family class shares.
const std::set<std::string> kDiscreteKeys = {
    "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "prediction_type",
    "timestep_spacing", "steps_offset", "rescale_betas_zero_snr"};
const std::set<std::string> kClipKeys = {"clip_sample", "clip_sample_range", "thresholding",
                                         "dynamic_thresholding_ratio", "sample_max_value"};
const std::set<std::string> kEulerKeys = {"interpolation_type", "use_karras_sigmas", "use_exponential_sigmas",
                                          "use_beta_sigmas", "sigma_min", "sigma_max", "timestep_type",
                                          "final_sigmas_type"};
const std::set<std::string> kCmKeys = {"num_train_timesteps", "sigma_min", "sigma_max", "sigma_data",
                                       "s_noise", "rho", "clip_denoised"};

void checkKeys(const Json& c, const std::string& cls, std::initializer_list<const std::set<std::string>*> sets,
               std::initializer_list<const char*> more) {
  for (const auto& [key, v] : c.items()) {
    if (!key.empty() && key[0] == '_') continue;  // _class_name, _diffusers_version
    bool known = false;
    for (const auto* s : sets) known = known || s->count(key);
    for (const char* k : more) known = known || key == k;
    if (!known)
      unsupported("key \"" + key.substr(0, 80) + "\" (value " + jsonShort(v) + ") is not one tessera knows for " +
                  (cls.empty() ? std::string("a scheduler without _class_name") : cls));
  }
}

void parseDiscrete(const Json& c, SchedulerSpec& s) {
  s.numTrainTimesteps = count(c, "num_train_timesteps", s.numTrainTimesteps, 1);
  s.betaStart = number(c, "beta_start", s.betaStart);
  s.betaEnd = number(c, "beta_end", s.betaEnd);
  s.betaSchedule = oneOf(c, "beta_schedule", "linear", {"linear", "scaled_linear", "squaredcos_cap_v2"});
  if (const Json* v = field(c, "trained_betas")) unsupported("trained_betas " + jsonShort(*v) + " are not supported");
  s.predictionType = oneOf(c, "prediction_type", "epsilon", {"epsilon", "v_prediction"});
  s.timestepSpacing = oneOf(c, "timestep_spacing", s.timestepSpacing, {"leading", "trailing", "linspace"});
  s.stepsOffset = count(c, "steps_offset", 0, 0);
  if (boolean(c, "rescale_betas_zero_snr", false))
    unsupported("rescale_betas_zero_snr (an infinite last noise level) is not supported");
}

void parseClip(const Json& c, SchedulerSpec& s) {
  s.clipSample = boolean(c, "clip_sample", true);
  s.clipSampleRange = number(c, "clip_sample_range", 1.0);
  if (s.clipSample && !(s.clipSampleRange > 0)) badValue("clip_sample_range", c["clip_sample_range"], "positive");
  if (boolean(c, "thresholding", false)) unsupported("thresholding (dynamic x0 clipping) is not supported");
  number(c, "dynamic_thresholding_ratio", 0.995);  // only read with thresholding
  number(c, "sample_max_value", 1.0);
}

}  // namespace

const char* SchedulerSpec::sampler() const {
  switch (cls) {
    case SchedulerClass::Ddpm: return "ddpm";
    case SchedulerClass::EulerDiscrete: return "euler";
    case SchedulerClass::CmStochasticIterative: return "consistency";
    default: return "ddim";
  }
}

uint32_t SchedulerSpec::defaultSteps() const {
  switch (cls) {
    case SchedulerClass::Ddpm: return std::min<uint32_t>(numTrainTimesteps, 1000);
    case SchedulerClass::CmStochasticIterative: return 1;
    default: return std::min<uint32_t>(numTrainTimesteps, 50);
  }
}

SchedulerSpec parseSchedulerConfig(const Json& c) {
  if (!c.is_object()) throw Error(ErrorCode::InvalidArgument, "scheduler config: expected a JSON object");
  SchedulerSpec s;
  s.className = text(c, "_class_name", "");
  const std::string& n = s.className;
  if (n == "DDPMScheduler") {
    s.cls = SchedulerClass::Ddpm;
    checkKeys(c, n, {&kDiscreteKeys, &kClipKeys}, {"variance_type"});
    parseDiscrete(c, s);
    parseClip(c, s);
    s.varianceType = oneOf(c, "variance_type", "fixed_small",
                           {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned",
                            "learned_range"});
  } else if (n == "DDIMScheduler") {
    s.cls = SchedulerClass::Ddim;
    checkKeys(c, n, {&kDiscreteKeys, &kClipKeys}, {"set_alpha_to_one"});
    parseDiscrete(c, s);
    parseClip(c, s);
    s.setAlphaToOne = boolean(c, "set_alpha_to_one", true);
  } else if (n == "EulerDiscreteScheduler") {
    s.cls = SchedulerClass::EulerDiscrete;
    checkKeys(c, n, {&kDiscreteKeys, &kEulerKeys}, {});
    s.timestepSpacing = "linspace";
    parseDiscrete(c, s);
    s.clipSample = false;
    oneOf(c, "interpolation_type", "linear", {"linear"});
    oneOf(c, "timestep_type", "discrete", {"discrete"});
    oneOf(c, "final_sigmas_type", "zero", {"zero"});
    for (const char* k : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"})
      onlyDefault(c, k, false, "tessera samples the training timesteps' own sigmas");
    for (const char* k : {"sigma_min", "sigma_max"})
      if (const Json* v = field(c, k)) unsupported(std::string(k) + " " + jsonShort(*v) + " is not supported (null only)");
  } else if (n == "CMStochasticIterativeScheduler") {
    s.cls = SchedulerClass::CmStochasticIterative;
    checkKeys(c, n, {&kCmKeys}, {});
    s.numTrainTimesteps = count(c, "num_train_timesteps", 40, 2);
    s.sigmaMin = positive(c, "sigma_min", s.sigmaMin);
    s.sigmaMax = positive(c, "sigma_max", s.sigmaMax);
    s.sigmaData = positive(c, "sigma_data", s.sigmaData);
    s.sNoise = number(c, "s_noise", s.sNoise);
    if (s.sNoise < 0) badValue("s_noise", c["s_noise"], "a number >= 0");
    s.rho = positive(c, "rho", s.rho);
    s.clipDenoised = boolean(c, "clip_denoised", true);
    if (!(s.sigmaMin < s.sigmaMax)) badValue("sigma_min", c["sigma_min"], "below sigma_max");
  } else if (n.empty()) {
    checkKeys(c, n, {&kDiscreteKeys, &kClipKeys}, {"variance_type", "set_alpha_to_one"});
    parseDiscrete(c, s);
    parseClip(c, s);
    s.setAlphaToOne = boolean(c, "set_alpha_to_one", true);
    s.varianceType = oneOf(c, "variance_type", "fixed_small", {"fixed_small", "fixed_small_log"});
  } else {
    unsupported("scheduler class \"" + n.substr(0, 80) +
                "\" is not supported (DDPMScheduler, DDIMScheduler, EulerDiscreteScheduler, "
                "CMStochasticIterativeScheduler)");
  }
  if (s.discrete() && s.betaSchedule != "squaredcos_cap_v2" &&
      !(s.betaStart > 0 && s.betaStart < 1 && s.betaEnd > 0 && s.betaEnd < 1))
    throw Error(ErrorCode::InvalidArgument, "noise schedule: beta_start " + jsonShort(s.betaStart) + " and beta_end " +
                                                jsonShort(s.betaEnd) + " must lie in (0, 1)");
  return s;
}

}  // namespace tessera::model
