#pragma once
// The last barrier of each output kind: which layout an image ends in, and which later reads
// (and writes) of the host's the barrier makes tessera's writes available and visible to. A
// barrier that covered shader reads only would leave, say, a transfer read of an image left in
// TRANSFER_SRC_OPTIMAL racing tessera's last copy (a read-after-write hazard); so the access mask
// follows the layout. docs/API.md lists the same table for the host.
#include <cstdint>

#include "vk/functions.hpp"

namespace tessera::runtime {

struct OutputReaders {
  VkImageLayout layout;          // images only
  VkPipelineStageFlags stages;   // the barrier's destination stages
  VkAccessFlags access;          // its destination access
};

// For an image output's `final_layout` as the integer the host stored (0: the default,
// SHADER_READ_ONLY_OPTIMAL). Throws InvalidArgument naming the value for any other layout.
OutputReaders imageReaders(int32_t finalLayout);
// For a buffer output: any later read, on any stage (shader, transfer, vertex, index, uniform).
OutputReaders bufferReaders();

}  // namespace tessera::runtime
