#pragma once
// Small helpers every op uses to validate its tensors and size its dispatch.
#include <string>

#include "error.hpp"
#include "program.hpp"

namespace tessera::ops {

// Throws InvalidArgument naming the op when the condition does not hold.
inline void require(bool ok, const char* op, const std::string& what) {
  if (!ok) fail(ErrorCode::InvalidArgument, std::string(op) + ": " + what);
}

// The tensor's buffer range must hold its elements.
inline void requireFits(const Tensor& t, const char* op, const char* name) {
  require(t.ref.buffer != VK_NULL_HANDLE && t.ref.size >= t.bytes(), op,
          std::string(name) + " " + t.shape.str() + " does not fit its buffer range");
}

// Workgroups for a grid-stride loop over `count` items, within the device's x limit.
inline uint32_t strideGroups(const vk::Gpu& gpu, std::size_t count, uint32_t local) {
  std::size_t g = (count + local - 1) / local;
  std::size_t cap = std::min<std::size_t>(gpu.facts.maxWorkgroupCount[0], 65535);
  return static_cast<uint32_t>(std::max<std::size_t>(1, std::min(g, cap)));
}

}  // namespace tessera::ops
