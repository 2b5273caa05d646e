#pragma once
// Reading tessera-eval's input tensors, for the single pass and the sampling loop alike.
#include <cstdint>
#include <vector>

#include "safetensors.hpp"

namespace tessera::tools {

// The tensor `name` as fp32; throws InvalidArgument when the file has none.
std::vector<float> tensorValues(const model::SafetensorsFile& st, const char* name);
// Class labels as PyTorch keeps them (int64), as I32, or as whole numbers in a float dtype.
std::vector<int64_t> classLabels(const model::SafeTensor& t);

}  // namespace tessera::tools
