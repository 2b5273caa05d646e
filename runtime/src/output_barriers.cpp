#include "output_barriers.hpp"

#include <string>

#include "error.hpp"

namespace tessera::runtime {

OutputReaders imageReaders(int32_t finalLayout) {
  // ALL_COMMANDS as the destination stage: tessera does not know where the host reads the image
  // (a fragment shader, a compute pass, a copy), and the stage is valid on any queue.
  constexpr VkPipelineStageFlags all = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
  switch (finalLayout) {
    case 0:
    case VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL:
      return {VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, all, VK_ACCESS_SHADER_READ_BIT};
    case VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL:
      return {VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, all, VK_ACCESS_TRANSFER_READ_BIT};
    case VK_IMAGE_LAYOUT_GENERAL:
      // GENERAL allows every use, so the host may read or write it in any way next.
      return {VK_IMAGE_LAYOUT_GENERAL, all, VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT};
    default: break;
  }
  fail(ErrorCode::InvalidArgument,
       "output.final_layout " + std::to_string(finalLayout) +
           " is not one tessera finishes in (VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, TRANSFER_SRC_OPTIMAL or "
           "GENERAL)");
}

OutputReaders bufferReaders() {
  return {VK_IMAGE_LAYOUT_UNDEFINED, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_MEMORY_READ_BIT};
}

}  // namespace tessera::runtime
