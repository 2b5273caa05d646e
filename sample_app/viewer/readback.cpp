#include "readback.hpp"

#include <cstring>

namespace tessera::viewer {

Readback::Readback(const Device& device, VkCommandBuffer cmd, VkImage image, VkExtent2D extent,
                   VkFormat format, const ImageUse& use)
    : buffer_(device, VkDeviceSize(extent.width) * extent.height * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT),
      extent_(extent),
      format_(format) {
  imageBarrier(cmd, image, 1, use.layout, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, use.stages, use.writes,
               VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
  VkBufferImageCopy region{};
  region.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
  region.imageExtent = {extent.width, extent.height, 1};
  vkCmdCopyImageToBuffer(cmd, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, buffer_.get(), 1, &region);
  // The copy wrote nothing the image's users need, but the layout change back is a write they must see.
  imageBarrier(cmd, image, 1, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, use.layout,
               VK_PIPELINE_STAGE_TRANSFER_BIT, 0, use.stages, use.reads);
  VkBufferMemoryBarrier host{VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER};
  host.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  host.srcQueueFamilyIndex = host.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  host.buffer = buffer_.get();
  host.size = VK_WHOLE_SIZE;
  vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 0, nullptr, 1,
                       &host, 0, nullptr);
}

app::Image Readback::rgba() const {
  app::Image img(extent_.width, extent_.height, 4);
  std::memcpy(img.pixels.data(), buffer_.data(), img.pixels.size());
  if (format_ == VK_FORMAT_B8G8R8A8_SRGB || format_ == VK_FORMAT_B8G8R8A8_UNORM)
    for (std::size_t i = 0; i < img.pixels.size(); i += 4) std::swap(img.pixels[i], img.pixels[i + 2]);
  return img;
}

}  // namespace tessera::viewer
