#pragma once
// GPU timestamps around every dispatch of a Program: where the time of one layer's stages or of a
// whole network goes. Needs compute-queue timestamps (DeviceFacts::timestampPeriodNs > 0).
#include <cstdint>
#include <vector>

#include "program.hpp"
#include "vk/buffer.hpp"

namespace tessera::bench {

class DispatchTimer {
 public:
  DispatchTimer(const vk::Gpu& gpu, uint32_t maxDispatches);
  ~DispatchTimer();
  DispatchTimer(const DispatchTimer&) = delete;
  DispatchTimer& operator=(const DispatchTimer&) = delete;

  // False when the queue has no timestamps; run() then throws Unsupported.
  bool available() const { return pool_ != VK_NULL_HANDLE; }
  uint32_t capacity() const { return capacity_; }

  // Submits `program` once, a timestamp before the first dispatch and after each, waits, and
  // returns each dispatch's milliseconds. Throws InvalidArgument past capacity().
  std::vector<double> run(vk::Submitter& submit, const Program& program);

 private:
  const vk::Gpu& gpu_;
  uint32_t capacity_;
  VkQueryPool pool_ = VK_NULL_HANDLE;
};

}  // namespace tessera::bench
