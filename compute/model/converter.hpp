#pragma once
// diffusers UNet2DModel folder (config.json + diffusion_pytorch_model.safetensors) -> .tsr
// package bytes. The checkpoint must hold exactly the tensors the config implies, with the
// shapes it implies; anything else is refused with an error naming the tensor.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model_metadata.hpp"
#include "safetensors.hpp"
#include "tensor.hpp"

namespace tessera::model {

struct ConvertOptions {
  DType dtype = DType::F32;  // how the package stores every tensor
  // A scheduler_config.json (or the folder holding one) for the base model, in place of the one
  // found beside it or named by the pipeline's model_index.json.
  std::filesystem::path scheduler;
  // Skips the sampling check (samplingPlan) for a package that only the network runs (the
  // graph's tests of arbitrary channel counts; tessera-eval's single pass). tsr_model_load
  // still refuses such a package when it cannot be sampled. tessera-convert never sets it.
  bool networkOnly = false;
};

struct ConvertSummary {
  std::size_t stages = 1;  // the base and its super-resolution stages
  std::size_t tensors = 0;
  uint64_t parameters = 0;
  uint64_t weightBytes = 0;   // tensor data as stored
  uint64_t packageBytes = 0;  // the whole file
  DType dtype = DType::F32;
  std::filesystem::path configPath, weightsPath, schedulerPath;  // schedulerPath empty when none
  std::vector<std::filesystem::path> stagePaths;                  // the stages' model folders
  std::string sampler;                 // what the package samples with by default, e.g. "ddpm"
  std::vector<std::string> warnings;  // what was missing and what was assumed instead
};

struct ConvertResult {
  std::vector<std::byte> package;
  ConvertSummary summary;
};

// The files of a model folder:
//   a diffusers pipeline folder: model_index.json names the UNet2DModel's subfolder and the
//     scheduler's (its scheduler_config.json);
//   a UNet folder: config.json, with a scheduler_config.json beside it or in ../scheduler/;
//   the weights: diffusion_pytorch_model.safetensors, else diffusion_pytorch_model.fp16.safetensors
//     (a .bin pickle alone is refused with how to convert it);
//   `scheduler` (a file, or a folder with scheduler_config.json) overrides what is found.
// Also the class names a pipeline's model_index.json lists (id2label), when it does.
struct ModelFiles {
  std::filesystem::path config, weights, scheduler;  // scheduler empty when there is none
  std::vector<std::string> classNames;
};
ModelFiles locateModelFiles(const std::filesystem::path& dir, const std::filesystem::path& scheduler = {});

// Converts parsed inputs; `provenance` is recorded as given (the folder variant fills it).
// A UNet without a scheduler config and without tessera.sigma_data is recorded with diffusers'
// DDPMScheduler defaults, and the summary's warnings say so.
ConvertResult convertModel(const Json& config, const SafetensorsFile& weights,
                           const std::optional<Json>& scheduler, const Json& provenance,
                           const ConvertOptions& options);

// A super-resolution stage's parsed inputs, for a package holding a pipeline (docs/FORMAT.md).
struct StageSource {
  Json config;
  const SafetensorsFile* weights = nullptr;
  Json provenance = Json::object();
};

// The base and its stages into one package. Each stage must take the output of the one before
// (checkStageChain); the error names the stage.
ConvertResult convertPipeline(const Json& config, const SafetensorsFile& weights,
                              const std::optional<Json>& scheduler, const Json& provenance,
                              const std::vector<StageSource>& stages, const ConvertOptions& options);

// Reads the folder and converts it. Errors: Io (files), CorruptModel (JSON, safetensors,
// tensors), Unsupported / InvalidArgument (config values).
ConvertResult convertModelDir(const std::filesystem::path& dir, const ConvertOptions& options);
// The base folder and one folder per super-resolution stage, in pipeline order.
ConvertResult convertPipelineDirs(const std::filesystem::path& base, const std::vector<std::filesystem::path>& stages,
                                  const ConvertOptions& options);

}  // namespace tessera::model
