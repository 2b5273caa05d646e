#include "program.hpp"

#include <algorithm>

#include "error.hpp"

namespace tessera {

std::string Shape4::str() const {
  return "[" + std::to_string(n) + "," + std::to_string(c) + "," + std::to_string(h) + "," +
         std::to_string(w) + "]";
}

Program::~Program() {
  if (pool_) gpu_.fn.vkDestroyDescriptorPool(gpu_.device, pool_, nullptr);
}

void Program::add(const vk::Kernel& kernel, std::initializer_list<BufferRef> bindings,
                  const void* push, uint32_t pushSize, uint32_t gx, uint32_t gy, uint32_t gz,
                  double flops) {
  const std::string what = "dispatch of '" + kernel.name + "': ";
  if (finalized()) fail(ErrorCode::InvalidArgument, what + "program already finalized");
  if (bindings.size() > kMaxBindings)
    fail(ErrorCode::InvalidArgument, what + std::to_string(bindings.size()) + " buffers, more than a program holds (" +
                                         std::to_string(kMaxBindings) + ")");
  if (bindings.size() != kernel.bindingCount)
    fail(ErrorCode::InvalidArgument, what + std::to_string(bindings.size()) + " buffers given, shader binds " +
                                         std::to_string(kernel.bindingCount));
  if (pushSize != kernel.pushConstantSize || pushSize > kMaxPush)
    fail(ErrorCode::InvalidArgument, what + "push constants of " + std::to_string(pushSize) +
                                         " bytes, shader declares " + std::to_string(kernel.pushConstantSize));
  const vk::DeviceFacts& f = gpu_.facts;
  const uint32_t groups[3] = {gx, gy, gz};
  for (int d = 0; d < 3; ++d)
    if (groups[d] == 0 || groups[d] > f.maxWorkgroupCount[d])
      fail(groups[d] == 0 ? ErrorCode::InvalidArgument : ErrorCode::Unsupported,
           what + "workgroup count " + std::to_string(groups[d]) + " outside the device's range [1, " +
               std::to_string(f.maxWorkgroupCount[d]) + "] in dimension " + std::to_string(d));
  Dispatch d{};
  d.kernel = &kernel;
  uint32_t i = 0;
  for (const BufferRef& b : bindings) {
    if (b.buffer == VK_NULL_HANDLE || b.size == 0)
      fail(ErrorCode::InvalidArgument, what + "binding " + std::to_string(i) + " is empty");
    if (b.offset % f.minStorageBufferOffsetAlignment)
      fail(ErrorCode::InvalidArgument, what + "binding " + std::to_string(i) + " offset " +
                                           std::to_string(b.offset) + " breaks the device's alignment of " +
                                           std::to_string(f.minStorageBufferOffsetAlignment));
    if (b.size > f.maxStorageBufferRange)
      fail(ErrorCode::OutOfArena, what + "binding " + std::to_string(i) + " spans " + std::to_string(b.size) +
                                      " bytes, above the device's storage-buffer range");
    d.bindings[i++] = b;
  }
  if (pushSize) std::memcpy(d.push.data(), push, pushSize);
  d.pushSize = pushSize;
  d.groups[0] = gx;
  d.groups[1] = gy;
  d.groups[2] = gz;
  d.flops = flops;
  dispatches_.push_back(d);
}

void Program::finalize() {
  if (finalized()) return;
  uint32_t descriptors = 0;
  for (const Dispatch& d : dispatches_) descriptors += d.kernel->bindingCount;
  VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, std::max(descriptors, 1u)};
  VkDescriptorPoolCreateInfo pci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  pci.maxSets = std::max<uint32_t>(static_cast<uint32_t>(dispatches_.size()), 1u);
  pci.poolSizeCount = 1;
  pci.pPoolSizes = &size;
  TESSERA_VK_CHECK(gpu_.fn.vkCreateDescriptorPool(gpu_.device, &pci, nullptr, &pool_));

  std::vector<VkDescriptorBufferInfo> infos;
  std::vector<VkWriteDescriptorSet> writes;
  infos.reserve(descriptors);
  for (Dispatch& d : dispatches_) {
    VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    ai.descriptorPool = pool_;
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &d.kernel->setLayout;
    TESSERA_VK_CHECK(gpu_.fn.vkAllocateDescriptorSets(gpu_.device, &ai, &d.set));
    for (uint32_t b = 0; b < d.kernel->bindingCount; ++b) {
      infos.push_back({d.bindings[b].buffer, d.bindings[b].offset, d.bindings[b].size});
      VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
      w.dstSet = d.set;
      w.dstBinding = b;
      w.descriptorCount = 1;
      w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w.pBufferInfo = &infos.back();
      writes.push_back(w);
    }
  }
  if (!writes.empty())
    gpu_.fn.vkUpdateDescriptorSets(gpu_.device, static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
}

void Program::record(VkCommandBuffer cmd, std::size_t first, std::size_t count) const {
  if (!finalized()) fail(ErrorCode::InvalidArgument, "program recorded before finalize()");
  const std::size_t end = std::min(dispatches_.size(), count == SIZE_MAX ? SIZE_MAX : first + count);
  const vk::Functions& fn = gpu_.fn;
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  const VkPipeline* bound = nullptr;
  for (std::size_t i = first; i < end; ++i) {
    const Dispatch& d = dispatches_[i];
    // Each dispatch may read what the previous one wrote, or overwrite what it read (the arena
    // reuses memory), so a full compute-to-compute barrier sits between them.
    fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier, 0, nullptr, 0, nullptr);
    if (bound != &d.kernel->pipeline) {
      fn.vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d.kernel->pipeline);
      bound = &d.kernel->pipeline;
    }
    fn.vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d.kernel->layout, 0, 1, &d.set, 0, nullptr);
    if (d.pushSize)
      fn.vkCmdPushConstants(cmd, d.kernel->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, d.pushSize, d.push.data());
    fn.vkCmdDispatch(cmd, d.groups[0], d.groups[1], d.groups[2]);
  }
}

double Program::cost(std::size_t i) const {
  const Dispatch& d = dispatches_.at(i);
  if (d.flops > 0) return d.flops;
  const auto& ls = d.kernel->localSize;
  return double(d.groups[0]) * d.groups[1] * d.groups[2] * ls[0] * ls[1] * ls[2];
}

double Program::flops() const {
  double s = 0;
  for (const Dispatch& d : dispatches_) s += d.flops;
  return s;
}

}  // namespace tessera
