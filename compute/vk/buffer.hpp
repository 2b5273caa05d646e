#pragma once
// A standalone VkBuffer with its own host-visible memory: for tests, tools and benchmarks.
// The library's hot path uses the arena instead (one allocation per memory kind).
#include <cstddef>
#include <functional>

#include "tensor.hpp"
#include "vk/gpu.hpp"

namespace tessera::vk {

class HostBuffer {
 public:
  HostBuffer(const Gpu& gpu, VkDeviceSize bytes);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  void* data() const { return mapped_; }
  VkDeviceSize size() const { return size_; }
  VkBuffer buffer() const { return buffer_; }
  BufferRef ref(VkDeviceSize offset = 0, VkDeviceSize bytes = VK_WHOLE_SIZE) const;
  // Makes host writes visible to the device / device writes visible to the host
  // (no-ops on coherent memory).
  void flush() const;
  void invalidate() const;

 private:
  const Gpu& gpu_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkDeviceSize size_ = 0;
  bool coherent_ = false;
  void* mapped_ = nullptr;
};

// Records into a fresh primary command buffer, submits it on the gpu's queue and waits.
class Submitter {
 public:
  explicit Submitter(const Gpu& gpu);
  ~Submitter();
  Submitter(const Submitter&) = delete;
  Submitter& operator=(const Submitter&) = delete;
  void run(const std::function<void(VkCommandBuffer)>& record);

 private:
  const Gpu& gpu_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

// A barrier making compute-shader writes visible to the host (after the fence wait).
void barrierComputeToHost(const Gpu& gpu, VkCommandBuffer cmd);

}  // namespace tessera::vk
