#pragma once
// A generator's description (tsr_generator_desc) checked against its context and model, with
// the defaults filled in.
#include <cstdint>
#include <vector>

#include "arena.hpp"
#include "handles.hpp"

namespace tessera::runtime {

struct GeneratorConfig {
  uint32_t maxWidth = 0, maxHeight = 0, maxBatch = 1;
  DType dtype = DType::F32;
  bool guidance = true;  // reserve and build the conditional + null batch
  bool strictShapes = false;
  std::vector<tsr_shape> prepared;
  const HostMemoryBlock* deviceMemory = nullptr;
  const HostMemoryBlock* stagingMemory = nullptr;
};

// Validates a description against the context and model and fills the defaults.
GeneratorConfig generatorConfig(const tsr_context_t& ctx, const model::ModelPackage& package,
                                const tsr_generator_desc& desc, HostMemoryBlock blocks[2]);

}  // namespace tessera::runtime
