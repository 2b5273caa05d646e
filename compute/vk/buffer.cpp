#include "vk/buffer.hpp"

#include "error.hpp"

namespace tessera::vk {

HostBuffer::HostBuffer(const Gpu& gpu, VkDeviceSize bytes) : gpu_(gpu), size_(bytes) {
  const Functions& fn = gpu.fn;
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = bytes;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  TESSERA_VK_CHECK(fn.vkCreateBuffer(gpu.device, &bi, nullptr, &buffer_));
  VkMemoryRequirements req;
  fn.vkGetBufferMemoryRequirements(gpu.device, buffer_, &req);
  int type = gpu.findMemoryType(req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                                VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  if (type < 0) {
    fn.vkDestroyBuffer(gpu.device, buffer_, nullptr);
    fail(ErrorCode::DeviceFeatureMissing, "no host-visible memory type for a storage buffer");
  }
  coherent_ = gpu.memory.memoryTypes[type].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = static_cast<uint32_t>(type);
  VkResult r = fn.vkAllocateMemory(gpu.device, &ai, nullptr, &memory_);
  if (r == VK_SUCCESS) r = fn.vkBindBufferMemory(gpu.device, buffer_, memory_, 0);
  if (r == VK_SUCCESS) r = fn.vkMapMemory(gpu.device, memory_, 0, VK_WHOLE_SIZE, 0, &mapped_);
  if (r != VK_SUCCESS) {
    if (memory_) fn.vkFreeMemory(gpu.device, memory_, nullptr);
    fn.vkDestroyBuffer(gpu.device, buffer_, nullptr);
    TESSERA_VK_CHECK(r);
  }
}

HostBuffer::~HostBuffer() {
  gpu_.fn.vkDestroyBuffer(gpu_.device, buffer_, nullptr);
  gpu_.fn.vkFreeMemory(gpu_.device, memory_, nullptr);
}

BufferRef HostBuffer::ref(VkDeviceSize offset, VkDeviceSize bytes) const {
  return {buffer_, offset, bytes == VK_WHOLE_SIZE ? size_ - offset : bytes};
}

void HostBuffer::flush() const {
  if (coherent_) return;
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, memory_, 0, VK_WHOLE_SIZE};
  TESSERA_VK_CHECK(gpu_.fn.vkFlushMappedMemoryRanges(gpu_.device, 1, &r));
}

void HostBuffer::invalidate() const {
  if (coherent_) return;
  VkMappedMemoryRange r{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, memory_, 0, VK_WHOLE_SIZE};
  TESSERA_VK_CHECK(gpu_.fn.vkInvalidateMappedMemoryRanges(gpu_.device, 1, &r));
}

Submitter::Submitter(const Gpu& gpu) : gpu_(gpu) {
  const Functions& fn = gpu.fn;
  VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pci.queueFamilyIndex = gpu.queueFamily;
  TESSERA_VK_CHECK(fn.vkCreateCommandPool(gpu.device, &pci, nullptr, &pool_));
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkResult r = fn.vkAllocateCommandBuffers(gpu.device, &ai, &cmd_);
  if (r == VK_SUCCESS) r = fn.vkCreateFence(gpu.device, &fci, nullptr, &fence_);
  if (r != VK_SUCCESS) {
    fn.vkDestroyCommandPool(gpu.device, pool_, nullptr);
    TESSERA_VK_CHECK(r);
  }
}

Submitter::~Submitter() {
  gpu_.fn.vkDestroyFence(gpu_.device, fence_, nullptr);
  gpu_.fn.vkDestroyCommandPool(gpu_.device, pool_, nullptr);
}

void Submitter::run(const std::function<void(VkCommandBuffer)>& record) {
  const Functions& fn = gpu_.fn;
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  TESSERA_VK_CHECK(fn.vkBeginCommandBuffer(cmd_, &bi));
  record(cmd_);
  TESSERA_VK_CHECK(fn.vkEndCommandBuffer(cmd_));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  TESSERA_VK_CHECK(fn.vkResetFences(gpu_.device, 1, &fence_));
  TESSERA_VK_CHECK(fn.vkQueueSubmit(gpu_.queue, 1, &si, fence_));
  TESSERA_VK_CHECK(fn.vkWaitForFences(gpu_.device, 1, &fence_, VK_TRUE, UINT64_MAX));
}

void barrierComputeToHost(const Gpu& gpu, VkCommandBuffer cmd) {
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  b.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  gpu.fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                              VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &b, 0, nullptr, 0, nullptr);
}

}  // namespace tessera::vk
