#pragma once
// A Vulkan device as tessera uses it: handles, its own function table, and the probed facts
// that kernels choose their variants from. Made by runtime/ (standalone or from a host device).
#include <cstdint>
#include <string>

#include "vk/functions.hpp"

namespace tessera::vk {

struct DeviceFacts {
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  uint32_t vendorId = 0;
  uint32_t apiVersion = 0;
  // Features as enabled on the VkDevice (not merely supported by the physical device).
  bool storage16 = false;  // storageBuffer16BitAccess
  bool float16 = false;    // shaderFloat16
  // Subgroup facts for the compute stage.
  uint32_t subgroupSize = 1;
  bool subgroupBasic = false;
  bool subgroupBallot = false;  // subgroupBroadcast / subgroupBroadcastFirst
  bool subgroupShuffle = false;
  bool subgroupArithmetic = false;
  uint32_t maxSharedMemory = 0;
  uint64_t maxStorageBufferRange = 0;
  uint64_t minStorageBufferOffsetAlignment = 1;
  uint32_t maxWorkgroupCount[3] = {0, 0, 0};
  uint32_t maxWorkgroupInvocations = 0;
  uint32_t maxPushConstantsSize = 0;
  uint64_t nonCoherentAtomSize = 1;
  float timestampPeriodNs = 0;  // 0: no compute-queue timestamps
  // Loop iterations one invocation may run, all its loops together, before the driver ends them
  // without a word (0: no limit known). llvmpipe (lavapipe) has one: its loop limiter, 65535.
  uint32_t loopIterationLimit = 0;

  bool isCpu() const { return type == VK_PHYSICAL_DEVICE_TYPE_CPU; }
  // The subgroup operations tessera's fast kernels use.
  bool hasSubgroupBroadcast() const { return subgroupBasic && subgroupBallot && subgroupSize >= 4; }
};

struct Gpu {
  Functions fn;
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physicalDevice = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  VkQueue queue = VK_NULL_HANDLE;
  uint32_t queueFamily = 0;
  uint32_t queueIndex = 0;
  VkPhysicalDeviceMemoryProperties memory{};
  DeviceFacts facts;

  // Picks a memory type index allowed by `typeBits` with all of `required`, preferring those that
  // also have `preferred`. Returns -1 when none matches.
  int findMemoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                     VkMemoryPropertyFlags preferred = 0) const;
};

// Fills facts from the physical device; `storage16`/`float16` are what the device was created with.
DeviceFacts probeFacts(const Functions& fn, VkPhysicalDevice pd, bool storage16Enabled,
                       bool float16Enabled, uint32_t queueFamily);

}  // namespace tessera::vk
