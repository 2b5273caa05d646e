#pragma once
// The .tsr model package container (docs/FORMAT.md): a fixed header, a section table, a JSON
// metadata section, a binary tensor index and the tensor data, each section with its CRC-32.
// This layer knows bytes, names, dtypes and shapes; what the metadata and tensors must say
// for a U-Net is checked one level up (model_package.hpp).
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "byte_io.hpp"
#include "tensor.hpp"

namespace tessera::model {

inline constexpr std::array<uint8_t, 8> kTsrMagic = {0x89, 'T', 'S', 'R', '\r', '\n', 0x1A, '\n'};
inline constexpr uint32_t kTsrVersion = 1;
inline constexpr uint32_t kTsrHeaderSize = 64;
inline constexpr uint32_t kTsrSectionEntrySize = 32;
inline constexpr uint32_t kTsrSectionCount = 3;
inline constexpr uint32_t kTsrIndexHeaderSize = 16;
inline constexpr uint32_t kTsrTensorEntrySize = 48;
inline constexpr uint64_t kTsrAlignment = 64;  // of every section and every tensor
inline constexpr uint32_t kTsrMaxTensors = 65536;
inline constexpr uint64_t kTsrMaxMetadataBytes = 16u << 20;
inline constexpr uint32_t kTsrMaxNameLength = 255;
inline constexpr uint32_t kTsrMaxRank = 4;

enum class TsrSection : uint32_t { Metadata = 1, TensorIndex = 2, TensorData = 3 };

struct TsrTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint32_t> shape;
  uint64_t offset = 0;  // from the start of the tensor data section
  Bytes data;           // inside the package's bytes
  uint64_t elements() const;
};

struct TsrReadOptions {
  // Off only where a tool must look past a checksum to report the structure (the fuzz targets
  // turn it off to reach the structural checks); the runtime loader always verifies.
  bool verifyChecksums = true;
};

class TsrContainer {
 public:
  // Parses a whole package held in `file`, which must outlive the result. Throws
  // Error(CorruptModel) naming the first thing that is wrong; reads nothing outside `file`.
  static TsrContainer parse(Bytes file, const TsrReadOptions& options = {});

  uint32_t version() const { return version_; }
  std::string_view metadataText() const { return metadataText_; }
  const std::vector<TsrTensor>& tensors() const { return tensors_; }  // in file order
  const TsrTensor* find(const std::string& name) const;

 private:
  uint32_t version_ = 0;
  std::string_view metadataText_;
  std::vector<TsrTensor> tensors_;
  std::map<std::string, std::size_t, std::less<>> byName_;
};

struct TsrTensorIn {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint32_t> shape;
  Bytes data;  // little-endian values, elements × dtype size bytes
};

// The package bytes for `metadataJson` (a JSON object) and `tensors`, in the canonical layout the
// reader accepts. Throws Error(InvalidArgument) for input the reader would refuse.
std::vector<std::byte> writeTsr(std::string_view metadataJson, const std::vector<TsrTensorIn>& tensors);

}  // namespace tessera::model
