#pragma once
// Copies level 0 of a colour image (a presented frame, a generated texture) into host memory,
// recorded into a frame's command buffer and read once that frame's fence has signalled, so that
// a screenshot never stalls the frame that takes it.
#include <vulkan/vulkan.h>

#include <filesystem>

#include "png_io.hpp"
#include "vulkan_host.hpp"

namespace tessera::viewer {

struct ImageUse {
  VkImageLayout layout;         // the image's layout before the copy and after it
  VkPipelineStageFlags stages;  // the stages that use it before and after the copy
  VkAccessFlags writes;         // what the earlier use wrote (to be made visible to the copy)
  VkAccessFlags reads;          // what the later use accesses (to see the layout restored)
};

class Readback {
 public:
  // `format`: 8-bit RGBA or BGRA (swizzled to RGBA when read).
  Readback(const Device& device, VkCommandBuffer cmd, VkImage image, VkExtent2D extent, VkFormat format,
           const ImageUse& use);
  // The pixels as RGBA; only after the recording command buffer finished executing.
  app::Image rgba() const;
  void writePng(const std::filesystem::path& path) const { app::writePng(path, rgba()); }

 private:
  HostBuffer buffer_;
  VkExtent2D extent_;
  VkFormat format_;
};

}  // namespace tessera::viewer
