#include "image_output.hpp"

#include <array>

#include "output_barriers.hpp"

namespace tessera::runtime {

void recordImageOutput(const vk::Functions& fn, VkCommandBuffer cmd, const tsr_output& o, const ImagePixels& px) {
  const uint32_t levels = o.mip_levels;
  const OutputReaders after = imageReaders(o.final_layout);
  VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
  b.srcAccessMask = 0;
  b.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  b.oldLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  b.newLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  b.image = o.image;
  b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, levels, 0, 1};
  fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, nullptr, 0,
                          nullptr, 1, &b);
  // At most 32 levels (a 2^31 image): no allocation on the recording path.
  std::array<VkBufferImageCopy, 32> copies{};
  for (uint32_t l = 0; l < levels && l < copies.size(); ++l) {
    const uint32_t w = sampler::mipExtent(px.width, l), h = sampler::mipExtent(px.height, l);
    const uint64_t bytes = sampler::pixelBytes(px.format, 1, h, w);
    VkBufferImageCopy& c = copies[l];
    c.bufferOffset = l == 0 ? px.level0.offset + px.item * bytes
                            : px.chain.offset +
                                  sampler::mipLevelOffset(px.format, px.count, px.height, px.width, l, px.align) +
                                  px.item * bytes;
    c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, l, 0, 1};
    c.imageExtent = {w, h, 1};
  }
  // level0 and chain are ranges of one arena buffer.
  fn.vkCmdCopyBufferToImage(cmd, px.level0.buffer, o.image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, levels,
                            copies.data());
  b.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
  b.dstAccessMask = after.access;
  b.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
  b.newLayout = after.layout;
  fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, after.stages, 0, 0, nullptr, 0, nullptr, 1, &b);
}

}  // namespace tessera::runtime
