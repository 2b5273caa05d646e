#pragma once
// Counting what tessera does on a host's device. tessera reaches a device it does not own only
// through the vkGetDeviceProcAddr it is given; counting::getDeviceProcAddr hands out wrappers
// that count every call creating or freeing a Vulkan object (and a few others worth watching),
// and can make the n-th next call of one fail as if the device were out of memory. So a test can
// prove what creation allocates, that generating allocates nothing, and that a failure leaks
// nothing. Set gRealGetDeviceProcAddr to the host's before handing getDeviceProcAddr out.
#include <array>
#include <atomic>
#include <cstring>
#include <string>
#include <type_traits>

#include "vk/functions.hpp"

namespace tessera::test::counting {

// clang-format off
#define TESSERA_COUNTED_FUNCTIONS(X) \
  X(AllocateMemory)               \
  X(FreeMemory)                   \
  X(MapMemory)                    \
  X(CreateBuffer)                 \
  X(DestroyBuffer)                \
  X(CreateImage)                  \
  X(DestroyImage)                 \
  X(CreateDescriptorPool)         \
  X(AllocateDescriptorSets)       \
  X(UpdateDescriptorSets)         \
  X(CreateCommandPool)            \
  X(AllocateCommandBuffers)       \
  X(CreateFence)                  \
  X(CreateShaderModule)           \
  X(CreateComputePipelines)       \
  X(CreatePipelineLayout)         \
  X(CreateDescriptorSetLayout)    \
  X(CreateQueryPool)              \
  X(DestroyCommandPool)           \
  X(DestroyFence)                 \
  X(DestroyDescriptorPool)        \
  X(DestroyShaderModule)          \
  X(DestroyPipeline)              \
  X(DestroyPipelineLayout)        \
  X(DestroyDescriptorSetLayout)   \
  X(QueueSubmit)                  \
  X(QueueWaitIdle)                \
  X(FlushMappedMemoryRanges)      \
  X(InvalidateMappedMemoryRanges) \
  TESSERA_GRAPHICS_ONLY_FUNCTIONS(X)

// Commands and objects that only a graphics queue (or a graphics pipeline) has: tessera must
// record none of them, so that it runs on a compute-only queue (lavapipe has one queue family
// that can do everything, so counting them is the proof).
#define TESSERA_GRAPHICS_ONLY_FUNCTIONS(X) \
  X(CmdBlitImage)                 \
  X(CmdClearColorImage)           \
  X(CmdClearDepthStencilImage)    \
  X(CmdClearAttachments)          \
  X(CmdResolveImage)              \
  X(CmdBeginRenderPass)           \
  X(CmdBeginRendering)            \
  X(CmdDraw)                      \
  X(CmdDrawIndexed)               \
  X(CmdDrawIndirect)              \
  X(CmdDrawIndexedIndirect)       \
  X(CmdBindVertexBuffers)         \
  X(CmdBindIndexBuffer)           \
  X(CmdSetViewport)               \
  X(CmdSetScissor)                \
  X(CreateGraphicsPipelines)      \
  X(CreateRenderPass)             \
  X(CreateFramebuffer)

enum Counted {
#define TESSERA_COUNTED_ENUM(name) name,
  TESSERA_COUNTED_FUNCTIONS(TESSERA_COUNTED_ENUM)
#undef TESSERA_COUNTED_ENUM
  kCounted
};
inline constexpr const char* kNames[kCounted] = {
#define TESSERA_COUNTED_NAME(name) "vk" #name,
  TESSERA_COUNTED_FUNCTIONS(TESSERA_COUNTED_NAME)
#undef TESSERA_COUNTED_NAME
};
// clang-format on

inline PFN_vkGetDeviceProcAddr gRealGetDeviceProcAddr = nullptr;
inline PFN_vkVoidFunction gReal[kCounted] = {};
inline std::array<std::atomic<uint64_t>, kCounted> gCalls{};
inline std::array<std::atomic<uint64_t>, kCounted> gMade{};  // calls that returned VK_SUCCESS (or void)
// When non-zero, the n-th next call of that function fails with VK_ERROR_OUT_OF_DEVICE_MEMORY.
inline std::array<uint32_t, kCounted> gFailIn{};

template <int Id, class R, class... A>
R VKAPI_CALL counted(A... args) {
  ++gCalls[Id];
  auto real = reinterpret_cast<R(VKAPI_PTR*)(A...)>(gReal[Id]);
  if constexpr (std::is_same_v<R, VkResult>) {
    if (gFailIn[Id] && --gFailIn[Id] == 0) return VK_ERROR_OUT_OF_DEVICE_MEMORY;
    const VkResult r = real(args...);
    if (r == VK_SUCCESS) ++gMade[Id];
    return r;
  } else {
    ++gMade[Id];
    return real(args...);
  }
}
template <int Id, class R, class... A>
PFN_vkVoidFunction wrapper(R(VKAPI_PTR*)(A...)) {
  return reinterpret_cast<PFN_vkVoidFunction>(&counted<Id, R, A...>);
}

inline VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL getDeviceProcAddr(VkDevice device, const char* name) {
  for (int i = 0; i < kCounted; ++i) {
    if (std::strcmp(name, kNames[i]) != 0) continue;
    gReal[i] = gRealGetDeviceProcAddr(device, name);
    if (!gReal[i]) return nullptr;
    switch (i) {
#define TESSERA_COUNTED_CASE(fn) \
  case fn:                       \
    return wrapper<fn>(PFN_vk##fn{});
      TESSERA_COUNTED_FUNCTIONS(TESSERA_COUNTED_CASE)
#undef TESSERA_COUNTED_CASE
    }
  }
  return gRealGetDeviceProcAddr(device, name);
}

using Counts = std::array<uint64_t, kCounted>;
inline Counts counts() {
  Counts c;
  for (int i = 0; i < kCounted; ++i) c[i] = gCalls[i];
  return c;
}
inline Counts made() {
  Counts c;
  for (int i = 0; i < kCounted; ++i) c[i] = gMade[i];
  return c;
}
inline uint64_t total(const Counts& c) {
  uint64_t t = 0;
  for (uint64_t v : c) t += v;
  return t;
}
inline bool graphicsOnly(int id) {
  switch (id) {
#define TESSERA_GRAPHICS_ONLY_CASE(fn) case fn:
    TESSERA_GRAPHICS_ONLY_FUNCTIONS(TESSERA_GRAPHICS_ONLY_CASE)
#undef TESSERA_GRAPHICS_ONLY_CASE
    return true;
    default: return false;
  }
}
// The graphics-only calls among two snapshots' differences, "" when there are none.
inline std::string graphicsCalls(const Counts& before, const Counts& now) {
  std::string s;
  for (int i = 0; i < kCounted; ++i)
    if (graphicsOnly(i) && now[i] != before[i]) s += std::string(" ") + kNames[i] + " +" + std::to_string(now[i] - before[i]);
  return s;
}
// Everything but submits, maps, flushes and invalidations creates or frees an object (the
// graphics-only commands are counted to be refused, and make nothing).
inline bool makesObjects(int id) {
  if (graphicsOnly(id) && id != CreateGraphicsPipelines && id != CreateRenderPass && id != CreateFramebuffer)
    return false;
  return id != QueueSubmit && id != QueueWaitIdle && id != MapMemory && id != FlushMappedMemoryRanges && id != InvalidateMappedMemoryRanges &&
         id != UpdateDescriptorSets;
}
// Names the functions whose counts moved between two snapshots of the same kind.
inline std::string changes(const Counts& before, const Counts& now = counts()) {
  std::string s;
  for (int i = 0; i < kCounted; ++i)
    if (now[i] != before[i]) s += std::string(" ") + kNames[i] + " +" + std::to_string(now[i] - before[i]);
  return s.empty() ? " none" : s;
}

}  // namespace tessera::test::counting
