#include "model_metadata.hpp"

#include <cmath>
#include <set>

#include "scheduler_config.hpp"

namespace tessera::model {
namespace {

constexpr std::size_t kMaxFreeFormBytes = 64 * 1024;
constexpr uint32_t kMaxSteps = 1000;
constexpr std::size_t kMaxStages = 8;
constexpr uint64_t kMaxTotalScale = 64;

[[noreturn]] void bad(const std::string& key, const Json& v, const std::string& expected) {
  throw Error(ErrorCode::InvalidArgument,
              "config key \"" + key + "\": value " + jsonShort(v) + " is not " + expected);
}

double positive(const std::string& key, const Json& v) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0)
    bad(key, v, "a positive number");
  return v.get<double>();
}

uint32_t count(const std::string& key, const Json& v, uint32_t lo, uint32_t hi) {
  if (!isUnsignedInteger(v) || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
    bad(key, v, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return uint32_t(v.get<uint64_t>());
}

void checkFreeForm(const std::string& key, const Json& v) {
  if (!v.is_object()) bad(key, v, "an object");
  if (v.dump().size() > kMaxFreeFormBytes) bad(key, v, "under 64 KiB");
}

// "12" -> 12; refuses signs, leading zeros and anything else a step count cannot be written as.
std::optional<uint32_t> stepKey(const std::string& s) {
  if (s.empty() || s.size() > 4 || s[0] == '0') return std::nullopt;
  uint32_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + uint32_t(c - '0');
  }
  if (n < 1 || n > kMaxSteps) return std::nullopt;
  return n;
}

const char* kSamplers[] = {"euler", "heun", "dpmpp_2m", "consistency"};

}  // namespace

TesseraSection TesseraSection::fromJson(const Json& j, const UnetConfig& config) {
  TesseraSection s;
  if (!j.is_object()) bad("tessera", j, "an object");
  const uint32_t labels = config.numClassEmbeds.value_or(0);
  for (const auto& [key, v] : j.items()) {
    const std::string k = "tessera." + key;
    if (key == "padding_mode") {
      if (v == "zeros")
        s.paddingMode = PaddingMode::Zeros;
      else if (v == "circular")
        s.paddingMode = PaddingMode::Circular;
      else
        throw Error(ErrorCode::Unsupported, "config key \"" + k + "\": value " + jsonShort(v) +
                                                " is not supported (\"zeros\" or \"circular\")");
    } else if (key == "classes") {
      if (!v.is_array() || v.size() > labels)
        bad(k, v, "a list of at most num_class_embeds (" + std::to_string(labels) + ") names");
      std::set<std::string> seen;
      for (const Json& name : v) {
        if (!name.is_string() || name.get<std::string>().empty() || name.get<std::string>().size() > 128)
          bad(k, name, "a class name (1 to 128 bytes)");
        if (!seen.insert(name.get<std::string>()).second) bad(k, name, "a name given once");
        s.classes.push_back(name.get<std::string>());
      }
    } else if (key == "null_class") {
      if (labels == 0) bad(k, v, "allowed without num_class_embeds");
      s.nullClass = count(k, v, 0, labels - 1);
    } else if (key == "sigma_data") {
      s.sigmaData = positive(k, v);
    } else if (key == "sigma_min") {
      s.sigmaMin = positive(k, v);
    } else if (key == "sigma_max") {
      s.sigmaMax = positive(k, v);
    } else if (key == "rho") {
      s.rho = positive(k, v);
    } else if (key == "step_sigmas") {
      if (!v.is_object()) bad(k, v, "an object mapping a step count to its sigmas");
      for (const auto& [steps, list] : v.items()) {
        const std::string kk = k + "." + steps;
        const auto n = stepKey(steps);
        if (!n) bad(kk, list, "under a step count (a decimal integer in [1, 1000])");
        if (!list.is_array() || list.size() != *n) bad(kk, list, "a list of " + steps + " sigmas");
        std::vector<double> sigmas;
        for (const Json& x : list) {
          const double sigma = positive(kk, x);
          if (!sigmas.empty() && sigma >= sigmas.back()) bad(kk, list, "strictly decreasing");
          sigmas.push_back(sigma);
        }
        s.stepSigmas[*n] = std::move(sigmas);
      }
    } else if (key == "default_steps") {
      s.defaultSteps = count(k, v, 1, kMaxSteps);
    } else if (key == "sampler") {
      bool ok = false;
      for (const char* name : kSamplers) ok = ok || v == name;
      if (!ok)
        throw Error(ErrorCode::Unsupported,
                    "config key \"" + k + "\": value " + jsonShort(v) +
                        " is not supported (\"euler\", \"heun\", \"dpmpp_2m\", \"consistency\")");
      s.sampler = v.get<std::string>();
    } else if (key == "guidance_scale") {
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || v.get<double>() > 100)
        bad(k, v, "a number in [0, 100]");
      s.guidanceScale = v.get<double>();
    } else if (key == "data") {
      if (!v.is_null()) checkFreeForm(k, v);
      s.data = v;
    } else if (key == "stage") {
      if (v == "base")
        s.stage = StageKind::Base;
      else if (v == "super_resolution")
        s.stage = StageKind::SuperResolution;
      else
        throw Error(ErrorCode::Unsupported, "config key \"" + k + "\": value " + jsonShort(v) +
                                                " is not supported (\"base\" or \"super_resolution\")");
    } else if (key == "scale_factor") {
      if (!isUnsignedInteger(v) || (v.get<uint64_t>() != 2 && v.get<uint64_t>() != 4)) bad(k, v, "2 or 4");
      s.scaleFactor = uint32_t(v.get<uint64_t>());
    } else if (key == "cond_sigma") {
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0 || v.get<double>() > 100)
        bad(k, v, "a number in [0, 100]");
      s.condSigma = v.get<double>();
    } else if (key == "residual") {
      if (!v.is_boolean()) bad(k, v, "true or false");
      s.residual = v.get<bool>();
    } else {
      throw Error(ErrorCode::Unsupported,
                  "config key \"" + k.substr(0, 90) + "\" (value " + jsonShort(v) + ") is not supported");
    }
  }
  if (s.nullClass && *s.nullClass < s.classes.size())
    bad("tessera.null_class", *s.nullClass, "a label beyond the named classes");
  if (s.sigmaMin && s.sigmaMax && !(*s.sigmaMin < *s.sigmaMax))
    bad("tessera.sigma_min", *s.sigmaMin, "below tessera.sigma_max");
  if (s.defaultSteps && !s.stepSigmas.empty() && !s.stepSigmas.count(*s.defaultSteps))
    bad("tessera.default_steps", *s.defaultSteps, "a step count listed in tessera.step_sigmas");
  if (s.stage == StageKind::SuperResolution) {
    const auto need = [](bool ok, const std::string& what) {
      if (!ok)
        throw Error(ErrorCode::InvalidArgument, "config key \"tessera.stage\": a super_resolution stage " + what);
    };
    need(s.scaleFactor.has_value(), "needs tessera.scale_factor");
    need(s.condSigma.has_value(), "needs tessera.cond_sigma");
    need(s.sigmaData.has_value(), "needs tessera.sigma_data (it is an EDM denoiser)");
    need(config.timestepClassEmbedding(), "needs class_embed_type \"timestep\" (its label is the conditioning's noise level)");
    need(config.inChannels == 2 * config.outChannels, "needs in_channels = 2 x out_channels (image and conditioning), not " +
                                                          std::to_string(config.inChannels) + " for " +
                                                          std::to_string(config.outChannels));
  } else {
    if (s.scaleFactor) bad("tessera.scale_factor", *s.scaleFactor, "allowed outside a super_resolution stage");
    if (s.condSigma) bad("tessera.cond_sigma", *s.condSigma, "allowed outside a super_resolution stage");
    if (s.residual) bad("tessera.residual", true, "allowed outside a super_resolution stage");
  }
  return s;
}

Json TesseraSection::toJson() const {
  Json j = Json::object();
  j["padding_mode"] = paddingMode == PaddingMode::Circular ? "circular" : "zeros";
  if (!classes.empty()) j["classes"] = classes;
  if (nullClass) j["null_class"] = *nullClass;
  if (sigmaData) j["sigma_data"] = *sigmaData;
  if (sigmaMin) j["sigma_min"] = *sigmaMin;
  if (rho) j["rho"] = *rho;
  if (sigmaMax) j["sigma_max"] = *sigmaMax;
  if (!stepSigmas.empty()) {
    Json steps = Json::object();
    for (const auto& [n, sigmas] : stepSigmas) steps[std::to_string(n)] = sigmas;
    j["step_sigmas"] = steps;
  }
  if (defaultSteps) j["default_steps"] = *defaultSteps;
  if (sampler) j["sampler"] = *sampler;
  if (guidanceScale) j["guidance_scale"] = *guidanceScale;
  if (!data.is_null()) j["data"] = data;
  if (stage == StageKind::SuperResolution) {
    j["stage"] = "super_resolution";
    j["scale_factor"] = *scaleFactor;
    j["cond_sigma"] = *condSigma;
    if (residual) j["residual"] = true;
  }
  return j;
}

Json checkNoiseSchedule(const Json& s) {
  parseSchedulerConfig(s);
  return s;
}

SourceConfig parseSourceConfig(const Json& configJson) {
  if (!configJson.is_object())
    throw Error(ErrorCode::InvalidArgument,
                "config.json: expected a JSON object, got " + jsonTypeName(configJson));
  Json unet = configJson;
  Json tessera = Json::object();
  if (unet.contains("tessera")) {
    tessera = unet["tessera"];
    unet.erase("tessera");
  }
  SourceConfig out;
  out.unet = UnetConfig::fromJson(unet);
  out.tessera = TesseraSection::fromJson(tessera, out.unet);
  return out;
}

void checkStageChain(const UnetConfig& previous, const UnetConfig& next, const TesseraSection& t, std::size_t k) {
  const std::string what = "stage " + std::to_string(k) + ": ";
  if (t.stage != StageKind::SuperResolution)
    throw Error(ErrorCode::InvalidArgument, what + "a stage after the base must be a super_resolution stage "
                                                   "(tessera.stage)");
  if (next.outChannels != previous.outChannels)
    throw Error(ErrorCode::InvalidArgument, what + "makes " + std::to_string(next.outChannels) +
                                                " channels, the stage before it " +
                                                std::to_string(previous.outChannels));
  if (next.inChannels != 2 * previous.outChannels)
    throw Error(ErrorCode::InvalidArgument, what + "reads " + std::to_string(next.inChannels) +
                                                " channels; it needs the image and the stage before's " +
                                                std::to_string(previous.outChannels) + " channels of conditioning");
}

ModelMetadata ModelMetadata::fromJson(const Json& j) {
  ModelMetadata m;
  if (!j.is_object()) throw Error(ErrorCode::CorruptModel, "tsr metadata: not a JSON object");
  for (const auto& [key, v] : j.items())
    if (key != "architecture" && key != "tessera" && key != "training_noise_schedule" && key != "provenance" &&
        key != "stages")
      throw Error(ErrorCode::CorruptModel, "tsr metadata: unknown key \"" + key.substr(0, 80) + "\"");
  for (const char* key : {"architecture", "tessera", "provenance"})
    if (!j.contains(key))
      throw Error(ErrorCode::CorruptModel, std::string("tsr metadata: key \"") + key + "\" is missing");
  // The same strict parsers as the converter's; any refusal means the package is not one this
  // library wrote or can run, so it is reported as a corrupt model with the parser's reason.
  try {
    m.architecture = UnetConfig::fromJson(j["architecture"]);
    m.tessera = TesseraSection::fromJson(j["tessera"], m.architecture);
    if (j.contains("training_noise_schedule"))
      m.trainingNoiseSchedule = checkNoiseSchedule(j["training_noise_schedule"]);
    checkFreeForm("provenance", j["provenance"]);
    m.provenance = j["provenance"];
    if (m.tessera.stage != StageKind::Base)
      throw Error(ErrorCode::InvalidArgument, "the first stage of a package must be a base stage (tessera.stage)");
    if (j.contains("stages")) {
      const Json& list = j["stages"];
      if (!list.is_array() || list.empty() || list.size() > kMaxStages)
        bad("stages", list, "a list of 1 to " + std::to_string(kMaxStages) + " stages");
      uint64_t scale = 1;
      for (std::size_t i = 0; i < list.size(); ++i) {
        const Json& st = list[i];
        const std::string name = "stages[" + std::to_string(i) + "]";
        if (!st.is_object()) bad(name, st, "an object");
        for (const auto& [key, v] : st.items())
          if (key != "architecture" && key != "tessera" && key != "provenance")
            throw Error(ErrorCode::CorruptModel, "tsr metadata: " + name + ": unknown key \"" + key.substr(0, 80) + "\"");
        for (const char* key : {"architecture", "tessera", "provenance"})
          if (!st.contains(key))
            throw Error(ErrorCode::CorruptModel, "tsr metadata: " + name + ": key \"" + key + "\" is missing");
        StageMetadata s;
        s.architecture = UnetConfig::fromJson(st["architecture"]);
        s.tessera = TesseraSection::fromJson(st["tessera"], s.architecture);
        checkFreeForm(name + ".provenance", st["provenance"]);
        s.provenance = st["provenance"];
        checkStageChain(i == 0 ? m.architecture : m.stages.back().architecture, s.architecture, s.tessera, i + 1);
        scale *= *s.tessera.scaleFactor;
        if (scale > kMaxTotalScale) bad("stages", list, "a chain of at most " + std::to_string(kMaxTotalScale) + "x in all");
        m.stages.push_back(std::move(s));
      }
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::CorruptModel) throw;
    throw Error(ErrorCode::CorruptModel, std::string("tsr metadata: ") + e.what());
  }
  return m;
}

Json ModelMetadata::toJson() const {
  Json j = Json::object();
  j["architecture"] = architecture.toJson();
  j["tessera"] = tessera.toJson();
  if (trainingNoiseSchedule) j["training_noise_schedule"] = *trainingNoiseSchedule;
  j["provenance"] = provenance;
  if (!stages.empty()) {
    Json list = Json::array();
    for (const StageMetadata& s : stages)
      list.push_back({{"architecture", s.architecture.toJson()}, {"tessera", s.tessera.toJson()},
                      {"provenance", s.provenance}});
    j["stages"] = list;
  }
  return j;
}

}  // namespace tessera::model
