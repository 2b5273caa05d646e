#pragma once
// A texture that tessera writes (TSR_OUTPUT_IMAGE): R8G8B8A8_SRGB with a full mip chain, sampled
// by the plane. The viewer keeps two and shows one while tessera fills the other.
#include <vulkan/vulkan.h>

#include "vulkan_host.hpp"

namespace tessera::viewer {

class GeneratedTexture {
 public:
  static constexpr VkFormat kFormat = VK_FORMAT_R8G8B8A8_SRGB;

  GeneratedTexture(const Device& device, uint32_t width, uint32_t height);
  ~GeneratedTexture();
  GeneratedTexture(const GeneratedTexture&) = delete;
  GeneratedTexture& operator=(const GeneratedTexture&) = delete;

  VkImage image() const { return image_; }
  VkImageView view() const { return view_; }
  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint32_t mipLevels() const { return levels_; }

  // Fills every level with one colour and leaves it SHADER_READ_ONLY_OPTIMAL: what the plane
  // shows until the first texture is ready.
  void recordClear(VkCommandBuffer cmd, const VkClearColorValue& colour) const;

 private:
  VkDevice device_;
  uint32_t width_, height_, levels_;
  VkImage image_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkImageView view_ = VK_NULL_HANDLE;
};

}  // namespace tessera::viewer
