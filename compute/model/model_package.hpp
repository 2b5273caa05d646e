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
  const std::vector<TsrTensor>& tensors() const { return container_.tensors(); }
  // Every tensor of layout().tensors() is present; throws Error(InvalidArgument) for other names.
  const TsrTensor& tensor(const std::string& name) const;

 private:
  std::shared_ptr<const std::vector<std::byte>> storage_;
  TsrContainer container_;
  ModelMetadata metadata_;
  UnetLayout layout_;
};

// The values of a package tensor widened to fp32.
std::vector<float> toFloat32(const TsrTensor& t);

}  // namespace tessera::model
