#pragma once
// A Program is an ordered list of compute dispatches with their buffers and push constants,
// built once (descriptor sets written at finalize) and recorded any number of times, whole or
// in slices, without allocating anything.
#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "tensor.hpp"
#include "vk/kernel.hpp"

namespace tessera {

class Program {
 public:
  static constexpr uint32_t kMaxBindings = 8;
  static constexpr uint32_t kMaxPush = 128;  // the minimum every Vulkan device guarantees

  explicit Program(const vk::Gpu& gpu) : gpu_(gpu) {}
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  // Appends a dispatch. Checks binding count and push size against the kernel's reflection,
  // and each binding's offset alignment and range against the device's limits.
  void add(const vk::Kernel& kernel, std::initializer_list<BufferRef> bindings, const void* push,
           uint32_t pushSize, uint32_t gx, uint32_t gy = 1, uint32_t gz = 1, double flops = 0);
  template <class Push>
  void add(const vk::Kernel& kernel, std::initializer_list<BufferRef> bindings, const Push& push,
           uint32_t gx, uint32_t gy = 1, uint32_t gz = 1, double flops = 0) {
    add(kernel, bindings, &push, sizeof(Push), gx, gy, gz, flops);
  }

  // Allocates one descriptor pool holding every dispatch's set and writes them all.
  void finalize();
  bool finalized() const { return pool_ != VK_NULL_HANDLE; }

  // Records dispatches [first, first+count) into `cmd`, a compute barrier between consecutive ones
  // (and one before the first, so earlier work in the same command buffer is visible).
  void record(VkCommandBuffer cmd, std::size_t first = 0, std::size_t count = SIZE_MAX) const;

  std::size_t size() const { return dispatches_.size(); }
  double flops() const;
  // The work estimate of dispatch i: its floating-point operations when the op states them,
  // else one operation per invocation (memory-bound ops), for slicing a recording by budget.
  double cost(std::size_t i) const;
  // Dispatch i's kernel, workgroup counts and stated operations, for profiles.
  const vk::Kernel& kernelOf(std::size_t i) const { return *dispatches_.at(i).kernel; }
  std::array<uint32_t, 3> groupsOf(std::size_t i) const {
    const Dispatch& d = dispatches_.at(i);
    return {d.groups[0], d.groups[1], d.groups[2]};
  }
  double flopsOf(std::size_t i) const { return dispatches_.at(i).flops; }

 private:
  struct Dispatch {
    const vk::Kernel* kernel;
    std::array<BufferRef, kMaxBindings> bindings;
    std::array<uint8_t, kMaxPush> push;
    uint32_t pushSize;
    uint32_t groups[3];
    double flops;
    VkDescriptorSet set;
  };
  const vk::Gpu& gpu_;
  std::vector<Dispatch> dispatches_;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
};

// Ceiling division, for workgroup counts.
constexpr uint32_t divUp(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

}  // namespace tessera
