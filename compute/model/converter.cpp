#include "converter.hpp"

#include <cmath>
#include <cstdio>
#include <map>

#include "checksum.hpp"
#include "file_io.hpp"
#include "half.hpp"
#include "model_package.hpp"
#include "sampling_plan.hpp"
#include "tsr_format.hpp"
#include "unet_layout.hpp"

#ifndef TESSERA_VERSION
#define TESSERA_VERSION "unknown"
#endif

namespace tessera::model {
namespace {

constexpr uint64_t kMaxConfigBytes = 1u << 20;
constexpr uint64_t kMaxWeightsBytes = uint64_t(4) << 30;

// Names the first few of a list in an error; a checkpoint for another architecture can differ
// in hundreds of tensors and the message should stay readable.
std::string nameList(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", \"" : "\"") + names[i] + "\"";
  if (names.size() > 5) s += " and " + std::to_string(names.size() - 5) + " more";
  return s;
}

std::vector<std::byte> encode(const std::string& name, const std::vector<float>& values, DType dtype) {
  std::vector<std::byte> out(values.size() * dtypeSize(dtype));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]))
      corrupt("tensor \"" + name + "\" holds a non-finite value at element " + std::to_string(i));
    if (dtype == DType::F32) {
      storeLE(out.data() + 4 * i, std::bit_cast<uint32_t>(values[i]), 4);
    } else {
      const uint16_t h = floatToHalf(values[i]);
      if ((h & 0x7C00u) == 0x7C00u)
        throw Error(ErrorCode::InvalidArgument, "tensor \"" + name + "\" element " + std::to_string(i) +
                                                    " (" + std::to_string(values[i]) +
                                                    ") does not fit in fp16");
      storeLE(out.data() + 2 * i, h, 2);
    }
  }
  return out;
}

Json readJsonFile(const std::filesystem::path& path) {
  const std::vector<std::byte> bytes = readFileBytes(path, kMaxConfigBytes);
  return parseJsonStrict(asText(asBytes(bytes)), ErrorCode::CorruptModel, path.filename().string());
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

}  // namespace

namespace {

// model_index.json: {"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
// "scheduler": ["diffusers", "DDPMScheduler"], ...}. Returns the UNet's and the scheduler's
// subfolders.
std::pair<std::string, std::string> pipelineComponents(const std::filesystem::path& index, const Json& j,
                                                       std::vector<std::string>& classNames) {
  const std::string what = index.filename().string() + ": ";
  if (!j.is_object()) throw Error(ErrorCode::CorruptModel, what + "expected a JSON object");
  std::string unet, scheduler, other;
  for (const auto& [key, v] : j.items()) {
    if (key.empty() || key[0] == '_') continue;
    if (key == "id2label" && v.is_object()) {
      // {"0": "name, synonym", ...}: the first name of each, in label order.
      std::vector<std::string> names(v.size());
      for (const auto& [label, name] : v.items()) {
        std::size_t i = 0;
        try {
          i = std::stoul(label);
        } catch (...) {
          i = names.size();
        }
        if (i >= names.size() || !name.is_string())
          throw Error(ErrorCode::CorruptModel, what + "id2label must map 0..n-1 to names");
        const std::string full = name.get<std::string>();
        names[i] = full.substr(0, std::min(full.find(','), std::size_t(128)));
      }
      classNames = names;
      continue;
    }
    if (!v.is_array() || v.size() != 2 || !v[1].is_string()) continue;
    const std::string cls = v[1].get<std::string>();
    if (cls == "UNet2DModel") {
      if (!unet.empty()) throw Error(ErrorCode::Unsupported, what + "more than one UNet2DModel (\"" + unet + "\", \"" + key + "\")");
      unet = key;
    } else if (cls.size() > 9 && cls.compare(cls.size() - 9, 9, "Scheduler") == 0) {
      scheduler = key;
    } else {
      other += (other.empty() ? "" : ", ") + key + " (" + cls + ")";
    }
  }
  if (unet.empty())
    throw Error(ErrorCode::Unsupported, what + "the pipeline has no UNet2DModel (it has: " +
                                            (other.empty() ? std::string("nothing tessera converts") : other) + ")");
  return {unet, scheduler};
}

}  // namespace

ModelFiles locateModelFiles(const std::filesystem::path& dir, const std::filesystem::path& schedulerOverride) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(ErrorCode::Io, dir.string() + ": not a directory");
  ModelFiles f;
  fs::path unetDir = dir;
  std::optional<fs::path> pipelineScheduler;
  if (fs::exists(dir / "model_index.json", ec)) {
    const auto [unet, scheduler] = pipelineComponents(dir / "model_index.json", readJsonFile(dir / "model_index.json"), f.classNames);
    unetDir = dir / unet;
    pipelineScheduler = scheduler.empty() ? fs::path() : dir / scheduler / "scheduler_config.json";
    if (!scheduler.empty() && !fs::exists(*pipelineScheduler, ec))
      throw Error(ErrorCode::Io, (dir / scheduler).string() + ": model_index.json names it, but it has no scheduler_config.json");
  } else if (!fs::exists(dir / "config.json", ec) && fs::exists(dir / "unet" / "config.json", ec)) {
    unetDir = dir / "unet";
  }
  f.config = unetDir / "config.json";
  if (!fs::exists(f.config, ec))
    throw Error(ErrorCode::Io, unetDir.string() +
                                   ": no config.json (expected a diffusers UNet2DModel folder, or a pipeline folder "
                                   "with model_index.json)");
  f.weights = unetDir / "diffusion_pytorch_model.safetensors";
  if (!fs::exists(f.weights, ec)) f.weights = unetDir / "diffusion_pytorch_model.fp16.safetensors";
  if (!fs::exists(f.weights, ec)) {
    const bool pickle = fs::exists(unetDir / "diffusion_pytorch_model.bin", ec) ||
                        fs::exists(unetDir / "diffusion_pytorch_model.fp16.bin", ec);
    throw Error(ErrorCode::Io,
                unetDir.string() + ": no diffusion_pytorch_model.safetensors (or .fp16.safetensors)" +
                    (pickle ? "; only a .bin pickle, which tessera does not read (unpickling runs code). Convert it "
                              "once with diffusers: UNet2DModel.from_pretrained(DIR).save_pretrained(DIR, "
                              "safe_serialization=True)"
                            : ""));
  }
  if (!schedulerOverride.empty()) {
    f.scheduler = fs::is_directory(schedulerOverride, ec) ? schedulerOverride / "scheduler_config.json" : schedulerOverride;
    if (!fs::exists(f.scheduler, ec)) throw Error(ErrorCode::Io, f.scheduler.string() + ": no such scheduler config");
  } else if (pipelineScheduler) {
    f.scheduler = *pipelineScheduler;
  } else {
    // A lone model may carry its scheduler beside itself, or sit in a pipeline without model_index.json.
    for (const fs::path& p :
         {unetDir / "scheduler_config.json", unetDir / ".." / "scheduler" / "scheduler_config.json"})
      if (fs::exists(p, ec)) {
        f.scheduler = p.lexically_normal();
        break;
      }
  }
  return f;
}

namespace {

// One stage's tensors, checked against its layout, encoded and named under `prefix`.
void addStageTensors(const UnetLayout& layout, const SafetensorsFile& weights, const std::string& prefix,
                     const std::string& what, const ConvertOptions& options, std::vector<std::vector<std::byte>>& storage,
                     std::vector<TsrTensorIn>& tensors, ConvertSummary& s) {
  const std::vector<TensorSpec> expected = layout.tensors();
  std::vector<std::string> missing, extra;
  std::map<std::string, int> wanted;
  for (const TensorSpec& spec : expected) {
    wanted[spec.name] = 0;
    if (!weights.find(spec.name)) missing.push_back(spec.name);
  }
  for (const SafeTensor& t : weights.tensors())
    if (!wanted.count(t.name)) extra.push_back(t.name);
  if (!missing.empty())
    corrupt(what + "the checkpoint lacks " + std::to_string(missing.size()) +
            " tensor(s) the config implies: " + nameList(missing));
  if (!extra.empty())
    corrupt(what + "the checkpoint has " + std::to_string(extra.size()) +
            " tensor(s) the config does not imply: " + nameList(extra));
  for (const TensorSpec& spec : expected) {
    const SafeTensor& t = *weights.find(spec.name);
    const std::vector<uint64_t> want(spec.shape.begin(), spec.shape.end());
    if (t.shape != want)
      corrupt(what + "tensor \"" + spec.name + "\" has shape " + shapeString(t.shape) + ", the config implies " +
              shapeString(want));
    storage.push_back(encode(prefix + spec.name, toFloat32(t), options.dtype));
    tensors.push_back({prefix + spec.name, options.dtype, spec.shape, asBytes(storage.back())});
    s.parameters += t.elements();
    s.weightBytes += storage.back().size();
  }
}

}  // namespace

ConvertResult convertPipeline(const Json& config, const SafetensorsFile& weights,
                              const std::optional<Json>& scheduler, const Json& provenance,
                              const std::vector<StageSource>& stages, const ConvertOptions& options) {
  const SourceConfig source = parseSourceConfig(config);
  if (source.tessera.stage != StageKind::Base)
    throw Error(ErrorCode::InvalidArgument, "the first model of a package must be a base stage, not a "
                                            "super_resolution one (give it with --stage after a base)");
  const UnetLayout layout = UnetLayout::derive(source.unet);

  ConvertResult result;
  ConvertSummary& s = result.summary;
  s.dtype = options.dtype;
  s.stages = 1 + stages.size();
  std::vector<std::vector<std::byte>> storage;
  std::vector<TsrTensorIn> tensors;
  std::size_t count = layout.tensors().size();
  std::vector<SourceConfig> parsed;
  for (std::size_t k = 1; k <= stages.size(); ++k) {
    const std::string what = "stage " + std::to_string(k) + ": ";
    try {
      parsed.push_back(parseSourceConfig(stages[k - 1].config));
      checkStageChain(k == 1 ? source.unet : parsed[k - 2].unet, parsed.back().unet, parsed.back().tessera, k);
    } catch (const Error& e) {
      if (std::string(e.what()).rfind("stage ", 0) == 0) throw;
      throw Error(e.code(), what + e.what());
    }
    count += UnetLayout::derive(parsed.back().unet).tensors().size();
  }
  storage.reserve(count);  // TsrTensorIn views point into it
  addStageTensors(layout, weights, "", "", options, storage, tensors, s);
  for (std::size_t k = 1; k <= stages.size(); ++k)
    addStageTensors(UnetLayout::derive(parsed[k - 1].unet), *stages[k - 1].weights, stagePrefix(k),
                    "stage " + std::to_string(k) + ": ", options, storage, tensors, s);
  s.tensors = tensors.size();

  ModelMetadata meta;
  meta.architecture = source.unet;
  meta.tessera = source.tessera;
  if (scheduler) {
    meta.trainingNoiseSchedule = checkNoiseSchedule(*scheduler);
  } else if (!source.tessera.sigmaData) {
    meta.trainingNoiseSchedule = Json{{"_class_name", "DDPMScheduler"}};
    s.warnings.push_back("no scheduler config (none beside the model, none named by a model_index.json, no "
                         "--scheduler): recorded diffusers' DDPMScheduler defaults (1000 linear betas "
                         "0.0001..0.02, epsilon prediction); give --scheduler PATH if the model was trained "
                         "with another");
  }
  // A class-conditional model without a null class: every label is a class the host may ask for.
  const uint32_t labels = source.unet.numClassEmbeds.value_or(0);
  if (labels && meta.tessera.classes.empty() && !meta.tessera.nullClass)
    for (uint32_t i = 0; i < labels; ++i) meta.tessera.classes.push_back(std::to_string(i));
  meta.provenance = provenance;
  meta.provenance["converter"] = std::string("tessera-convert ") + TESSERA_VERSION;
  meta.provenance["stored_dtype"] = dtypeName(options.dtype);
  meta.provenance["parameters"] = s.parameters;
  for (std::size_t k = 0; k < stages.size(); ++k)
    meta.stages.push_back({parsed[k].unet, parsed[k].tessera, stages[k].provenance});
  result.package = writeTsr(meta.toJson().dump(1), tensors);
  s.packageBytes = result.package.size();
  // What the converter writes, the loader must accept: read it back with the loader's checks,
  // and refuse here what the runtime could not sample (samplingPlan names the key).
  const ModelPackage written = ModelPackage::fromBytes(asBytes(result.package));
  if (!options.networkOnly) s.sampler = samplingPlan(written.metadata()).sampler;
  return result;
}

ConvertResult convertModel(const Json& config, const SafetensorsFile& weights,
                           const std::optional<Json>& scheduler, const Json& provenance,
                           const ConvertOptions& options) {
  return convertPipeline(config, weights, scheduler, provenance, {}, options);
}

namespace {

struct LoadedFolder {
  ModelFiles files;
  Json config;
  std::optional<Json> scheduler;
  std::vector<std::byte> weightBytes;
  SafetensorsFile weights;
  Json provenance = Json::object();
};

LoadedFolder loadFolder(const std::filesystem::path& dir, const std::filesystem::path& scheduler = {}) {
  LoadedFolder f;
  f.files = locateModelFiles(dir, scheduler);
  f.config = readJsonFile(f.files.config);
  // A pipeline's class names (model_index.json id2label) fill the config's tessera.classes.
  if (!f.files.classNames.empty() && f.config.is_object() &&
      !(f.config.contains("tessera") && f.config["tessera"].is_object() && f.config["tessera"].contains("classes")))
    f.config["tessera"]["classes"] = f.files.classNames;
  if (!f.files.scheduler.empty()) f.scheduler = readJsonFile(f.files.scheduler);
  f.weightBytes = readFileBytes(f.files.weights, kMaxWeightsBytes);
  try {
    f.weights = SafetensorsFile::parse(asBytes(f.weightBytes));
  } catch (const Error& e) {
    throw Error(e.code(), f.files.weights.filename().string() + ": " + e.what());
  }
  // File names only: a package must not carry the paths of the machine that made it.
  Json& provenance = f.provenance;
  provenance["source_config"] = f.files.config.filename().string();
  provenance["source_weights"] = f.files.weights.filename().string();
  provenance["source_weights_bytes"] = f.weightBytes.size();
  provenance["source_weights_crc32"] = hex32(crc32(asBytes(f.weightBytes)));
  // The checkpoint's own notes, unless they are too large to be notes.
  if (!f.weights.metadata().empty() && Json(f.weights.metadata()).dump().size() <= 16 * 1024)
    provenance["source_weights_metadata"] = f.weights.metadata();
  if (!f.files.scheduler.empty()) provenance["source_scheduler"] = f.files.scheduler.filename().string();
  return f;
}

}  // namespace

ConvertResult convertModelDir(const std::filesystem::path& dir, const ConvertOptions& options) {
  return convertPipelineDirs(dir, {}, options);
}

ConvertResult convertPipelineDirs(const std::filesystem::path& base, const std::vector<std::filesystem::path>& stageDirs,
                                  const ConvertOptions& options) {
  const LoadedFolder b = loadFolder(base, options.scheduler);
  std::vector<LoadedFolder> loaded;
  loaded.reserve(stageDirs.size());
  std::vector<StageSource> stages;
  for (std::size_t k = 0; k < stageDirs.size(); ++k) {
    loaded.push_back(loadFolder(stageDirs[k]));
    if (loaded.back().scheduler)
      throw Error(ErrorCode::InvalidArgument, "stage " + std::to_string(k + 1) + " (" + stageDirs[k].filename().string() +
                                                  "): a super-resolution stage is an EDM model; its scheduler config "
                                                  "would not be used");
  }
  for (const LoadedFolder& f : loaded) stages.push_back({f.config, &f.weights, f.provenance});
  ConvertResult r = convertPipeline(b.config, b.weights, b.scheduler, b.provenance, stages, options);
  r.summary.configPath = b.files.config;
  r.summary.weightsPath = b.files.weights;
  r.summary.schedulerPath = b.files.scheduler;
  for (const LoadedFolder& f : loaded) r.summary.stagePaths.push_back(f.files.config.parent_path());
  return r;
}

}  // namespace tessera::model
