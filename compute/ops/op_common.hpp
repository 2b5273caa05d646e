#pragma once
// Small helpers every op uses to validate its tensors and size its dispatch.
#include <algorithm>
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

// Workgroup shape and counts for kernels that walk [planes][rows][columns]: 64 invocations, the
// x extent no wider than the row so that narrow low-resolution rows do not leave most of them idle.
// Counts are clamped to the device's limits; the kernels loop over what a pass does not cover.
struct PlaneGrid {
  uint32_t lx, ly;
  uint32_t gx, gy, gz;
};
inline PlaneGrid planeGrid(const vk::DeviceFacts& f, uint32_t columns, uint32_t rows, uint32_t planes) {
  PlaneGrid g{8, 0, 0, 0, 0};
  while (g.lx < 64 && g.lx < columns) g.lx *= 2;
  g.ly = 64 / g.lx;
  g.gx = std::min(divUp(columns, g.lx), f.maxWorkgroupCount[0]);
  g.gy = std::min(divUp(rows, g.ly), f.maxWorkgroupCount[1]);
  g.gz = std::min(planes, f.maxWorkgroupCount[2]);
  return g;
}

}  // namespace tessera::ops
