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
};

struct ConvertResult {
  std::vector<std::byte> package;
  ConvertSummary summary;
};

// The files of a model folder: DIR/config.json, or DIR/unet/config.json for a diffusers
// pipeline; the scheduler config beside the model or in the pipeline's scheduler/ folder.
struct ModelFiles {
  std::filesystem::path config, weights, scheduler;  // scheduler empty when there is none
};
ModelFiles locateModelFiles(const std::filesystem::path& dir);

// Converts parsed inputs; `provenance` is recorded as given (the folder variant fills it).
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
