#pragma once
// Reader for the safetensors format (8-byte little-endian header length, a JSON header, then
// the tensor bytes), as PyTorch checkpoints from diffusers are stored. Every offset and size
// is checked before use. Floating-point tensors (F32, F16, BF16) hold weights and inputs;
// integer tensors (I32, I64) hold what PyTorch keeps as integers, such as class labels. Other
// dtypes are refused by name.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "byte_io.hpp"
#include "strict_json.hpp"

namespace tessera::model {

enum class SafeDType { F32, F16, BF16, I32, I64 };

const char* safeDTypeName(SafeDType t);
std::size_t safeDTypeSize(SafeDType t);
bool isIntegerDType(SafeDType t);

struct SafeTensor {
  std::string name;
  SafeDType dtype = SafeDType::F32;
  std::vector<uint64_t> shape;  // empty for a scalar
  Bytes data;                   // inside the file's bytes
  uint64_t elements() const;
};

class SafetensorsFile {
 public:
  // Parses `bytes`, which must outlive the result. Throws Error(CorruptModel) naming the
  // problem: short file, header length, JSON, a missing/extra field, an unknown dtype, a shape
  // whose size disagrees with data_offsets, offsets out of range, overlapping or leaving gaps.
  static SafetensorsFile parse(Bytes bytes);

  const std::vector<SafeTensor>& tensors() const { return tensors_; }  // sorted by name
  const SafeTensor* find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::vector<SafeTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The tensor's values widened to fp32 (exactly: every F16 and BF16 value is an fp32 value).
// Throws Error(Unsupported) naming the tensor for an integer tensor: rounding integers to fp32
// silently would hide a checkpoint that stores something other than weights.
std::vector<float> toFloat32(const SafeTensor& t);
// The values of an I32 or I64 tensor, exactly. Throws Error(Unsupported) naming the tensor for
// a floating-point one (the caller decides whether whole-number floats are acceptable).
std::vector<int64_t> toInt64(const SafeTensor& t);

struct SafeTensorIn {
  std::string name;
  SafeDType dtype = SafeDType::F32;
  std::vector<uint64_t> shape;
  std::vector<std::byte> data;  // little-endian values
};
// Writes the format as the reference implementation does (tensors sorted by name, contiguous,
// header padded with spaces to 8 bytes). For tests and tools that produce fixtures.
std::vector<std::byte> writeSafetensors(const std::vector<SafeTensorIn>& tensors,
                                        const std::map<std::string, std::string>& metadata = {});

}  // namespace tessera::model
