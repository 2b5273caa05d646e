#include "vk/gpu.hpp"

#include <vector>

namespace tessera::vk {

int Gpu::findMemoryType(uint32_t typeBits, VkMemoryPropertyFlags required,
                        VkMemoryPropertyFlags preferred) const {
  int fallback = -1;
  for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    if (!(typeBits & (1u << i))) continue;
    VkMemoryPropertyFlags f = memory.memoryTypes[i].propertyFlags;
    if ((f & required) != required) continue;
    if ((f & preferred) == preferred) return static_cast<int>(i);
    if (fallback < 0) fallback = static_cast<int>(i);
  }
  return fallback;
}

DeviceFacts probeFacts(const Functions& fn, VkPhysicalDevice pd, bool storage16Enabled,
                       bool float16Enabled, uint32_t queueFamily) {
  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &subgroup};
  fn.vkGetPhysicalDeviceProperties2(pd, &props);
  const VkPhysicalDeviceLimits& lim = props.properties.limits;

  DeviceFacts f;
  f.name = props.properties.deviceName;
  f.type = props.properties.deviceType;
  f.vendorId = props.properties.vendorID;
  f.apiVersion = props.properties.apiVersion;
  f.storage16 = storage16Enabled;
  f.float16 = float16Enabled;
  const bool compute = subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT;
  f.subgroupSize = subgroup.subgroupSize;
  f.subgroupBasic = compute && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
  f.subgroupBallot = compute && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT);
  f.subgroupShuffle = compute && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
  f.subgroupArithmetic =
      compute && (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
  f.maxSharedMemory = lim.maxComputeSharedMemorySize;
  f.maxStorageBufferRange = lim.maxStorageBufferRange;
  f.minStorageBufferOffsetAlignment = lim.minStorageBufferOffsetAlignment;
  for (int i = 0; i < 3; ++i) f.maxWorkgroupCount[i] = lim.maxComputeWorkGroupCount[i];
  f.maxWorkgroupInvocations = lim.maxComputeWorkGroupInvocations;
  f.maxPushConstantsSize = lim.maxPushConstantsSize;
  f.nonCoherentAtomSize = lim.nonCoherentAtomSize;
  // gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, shared by every loop of a shader invocation.
  if (f.type == VK_PHYSICAL_DEVICE_TYPE_CPU && f.name.rfind("llvmpipe", 0) == 0) f.loopIterationLimit = 65535;

  uint32_t count = 0;
  fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, families.data());
  if (queueFamily < count && families[queueFamily].timestampValidBits > 0)
    f.timestampPeriodNs = lim.timestampPeriod;
  return f;
}

}  // namespace tessera::vk
