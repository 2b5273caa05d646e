#include "texture.hpp"

#include <algorithm>
#include <bit>

namespace tessera::viewer {

GeneratedTexture::GeneratedTexture(const Device& device, uint32_t width, uint32_t height)
    : device_(device.get()),
      width_(width),
      height_(height),
      levels_(uint32_t(std::bit_width(std::max(width, height)))) {
  // tessera makes the mips with linear blits from level 0, and needs the format to allow them.
  VkFormatProperties fp;
  vkGetPhysicalDeviceFormatProperties(device.physical(), kFormat, &fp);
  const VkFormatFeatureFlags need = VK_FORMAT_FEATURE_SAMPLED_IMAGE_BIT |
                                    VK_FORMAT_FEATURE_SAMPLED_IMAGE_FILTER_LINEAR_BIT |
                                    VK_FORMAT_FEATURE_BLIT_SRC_BIT | VK_FORMAT_FEATURE_BLIT_DST_BIT;
  if ((fp.optimalTilingFeatures & need) != need)
    throw VulkanError("the device cannot sample and blit R8G8B8A8_SRGB images with linear filtering");

  VkImageCreateInfo ici{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ici.imageType = VK_IMAGE_TYPE_2D;
  ici.format = kFormat;
  ici.extent = {width, height, 1};
  ici.mipLevels = levels_;
  ici.arrayLayers = 1;
  ici.samples = VK_SAMPLE_COUNT_1_BIT;
  ici.tiling = VK_IMAGE_TILING_OPTIMAL;
  // TRANSFER_DST/SRC: tessera copies level 0 in and blits the mips; SRC also serves --save-texture.
  ici.usage = VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_SAMPLED_BIT;
  vkCheck(vkCreateImage(device_, &ici, nullptr, &image_), "vkCreateImage (texture)");
  VkMemoryRequirements mr;
  vkGetImageMemoryRequirements(device_, image_, &mr);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = mr.size;
  mai.memoryTypeIndex = device.memoryType(mr.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  vkCheck(vkAllocateMemory(device_, &mai, nullptr, &memory_), "vkAllocateMemory (texture)");
  vkCheck(vkBindImageMemory(device_, image_, memory_, 0), "vkBindImageMemory (texture)");

  VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
  vci.image = image_;
  vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
  vci.format = kFormat;
  vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, levels_, 0, 1};
  vkCheck(vkCreateImageView(device_, &vci, nullptr, &view_), "vkCreateImageView (texture)");
}

GeneratedTexture::~GeneratedTexture() {
  vkDestroyImageView(device_, view_, nullptr);
  vkDestroyImage(device_, image_, nullptr);
  vkFreeMemory(device_, memory_, nullptr);
}

void GeneratedTexture::recordClear(VkCommandBuffer cmd, const VkClearColorValue& colour) const {
  imageBarrier(cmd, image_, levels_, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
               VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, 0, VK_PIPELINE_STAGE_TRANSFER_BIT,
               VK_ACCESS_TRANSFER_WRITE_BIT);
  const VkImageSubresourceRange all{VK_IMAGE_ASPECT_COLOR_BIT, 0, levels_, 0, 1};
  vkCmdClearColorImage(cmd, image_, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, &colour, 1, &all);
  imageBarrier(cmd, image_, levels_, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
               VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, VK_PIPELINE_STAGE_TRANSFER_BIT,
               VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT,
               VK_ACCESS_SHADER_READ_BIT);
}

}  // namespace tessera::viewer
