#pragma once
// A .tsr package opened for use: the container checked byte by byte, the metadata parsed by the
// same strict parsers the converter uses, and the tensors proven to be exactly those the
// architecture implies (names and shapes), with finite values. What the loader uploads.
#include <filesystem>
#include <memory>
#include <vector>

#include "model_metadata.hpp"
#include "tsr_format.hpp"
#include "unet_layout.hpp"

namespace tessera::model {

class ModelPackage {
 public:
  // `file` must outlive the package. Throws Error(CorruptModel) naming the problem.
  static ModelPackage fromBytes(Bytes file, const TsrReadOptions& options = {});
  // Takes ownership of the bytes.
  static ModelPackage fromBuffer(std::vector<std::byte> file, const TsrReadOptions& options = {});
  // Throws Error(Io) when the file cannot be read, Error(CorruptModel) when it is not valid.
  static ModelPackage readFile(const std::filesystem::path& path);

  const ModelMetadata& metadata() const { return metadata_; }
  const UnetLayout& layout() const { return layout_; }
  const TsrContainer& container() const { return container_; }
  // Every tensor of the file, all stages' together.
  const std::vector<TsrTensor>& tensors() const { return container_.tensors(); }
  // Every tensor of layout().tensors() is present; throws Error(InvalidArgument) for other names.
  // A stage's view looks its names up under its prefix.
  const TsrTensor& tensor(const std::string& name) const;

  // The super-resolution stages after the base, in pipeline order, each a view of this file with
  // its own metadata (architecture and tessera section; no stages of its own) and layout. Empty
  // for a one-stage package. The views share the file's bytes and must not outlive this package.
  const std::vector<ModelPackage>& stages() const { return stages_; }
  // The product of the stages' scale factors (1 without stages).
  uint32_t totalScale() const;

 private:
  std::shared_ptr<const std::vector<std::byte>> storage_;
  TsrContainer container_;
  ModelMetadata metadata_;
  UnetLayout layout_;
  std::string prefix_;  // "" for the base, stagePrefix(k) for stage k
  std::vector<ModelPackage> stages_;
};

// The values of a package tensor widened to fp32.
std::vector<float> toFloat32(const TsrTensor& t);

}  // namespace tessera::model
