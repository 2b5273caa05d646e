#pragma once
// tessera's own Vulkan function table. The library never uses the loader's global entry points
// for device work: every call goes through pointers loaded from the vkGet*ProcAddr it was given,
// so a host's device (and its layers or wrappers) is used exactly as the host set it up.
#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#define TESSERA_VK_GLOBAL_FUNCTIONS(X) \
  X(vkCreateInstance)                  \
  X(vkEnumerateInstanceExtensionProperties) \
  X(vkEnumerateInstanceLayerProperties) \
  X(vkEnumerateInstanceVersion)

#define TESSERA_VK_INSTANCE_FUNCTIONS(X)        \
  X(vkDestroyInstance)                          \
  X(vkEnumeratePhysicalDevices)                 \
  X(vkGetPhysicalDeviceProperties)              \
  X(vkGetPhysicalDeviceProperties2)             \
  X(vkGetPhysicalDeviceFeatures2)               \
  X(vkGetPhysicalDeviceQueueFamilyProperties)   \
  X(vkGetPhysicalDeviceMemoryProperties)        \
  X(vkGetPhysicalDeviceFormatProperties)        \
  X(vkEnumerateDeviceExtensionProperties)       \
  X(vkCreateDevice)                             \
  X(vkGetDeviceProcAddr)

#define TESSERA_VK_DEBUG_FUNCTIONS(X) \
  X(vkCreateDebugUtilsMessengerEXT)   \
  X(vkDestroyDebugUtilsMessengerEXT)

#define TESSERA_VK_DEVICE_FUNCTIONS(X)  \
  X(vkDestroyDevice)                    \
  X(vkGetDeviceQueue)                   \
  X(vkDeviceWaitIdle)                   \
  X(vkQueueSubmit)                      \
  X(vkQueueWaitIdle)                    \
  X(vkCreateBuffer)                     \
  X(vkDestroyBuffer)                    \
  X(vkGetBufferMemoryRequirements)      \
  X(vkBindBufferMemory)                 \
  X(vkCreateImage)                      \
  X(vkDestroyImage)                     \
  X(vkGetImageMemoryRequirements)       \
  X(vkBindImageMemory)                  \
  X(vkAllocateMemory)                   \
  X(vkFreeMemory)                       \
  X(vkMapMemory)                        \
  X(vkUnmapMemory)                      \
  X(vkFlushMappedMemoryRanges)          \
  X(vkInvalidateMappedMemoryRanges)     \
  X(vkCreateShaderModule)               \
  X(vkDestroyShaderModule)              \
  X(vkCreateDescriptorSetLayout)        \
  X(vkDestroyDescriptorSetLayout)       \
  X(vkCreatePipelineLayout)             \
  X(vkDestroyPipelineLayout)            \
  X(vkCreateComputePipelines)           \
  X(vkDestroyPipeline)                  \
  X(vkCreateDescriptorPool)             \
  X(vkDestroyDescriptorPool)            \
  X(vkAllocateDescriptorSets)           \
  X(vkUpdateDescriptorSets)             \
  X(vkCreateCommandPool)                \
  X(vkDestroyCommandPool)               \
  X(vkResetCommandPool)                 \
  X(vkResetCommandBuffer)   \
  X(vkAllocateCommandBuffers)           \
  X(vkFreeCommandBuffers)               \
  X(vkBeginCommandBuffer)               \
  X(vkEndCommandBuffer)                 \
  X(vkCreateFence)                      \
  X(vkDestroyFence)                     \
  X(vkWaitForFences)                    \
  X(vkResetFences)                      \
  X(vkGetFenceStatus)                   \
  X(vkCreateQueryPool)                  \
  X(vkDestroyQueryPool)                 \
  X(vkGetQueryPoolResults)              \
  X(vkCmdResetQueryPool)                \
  X(vkCmdWriteTimestamp)                \
  X(vkCmdBindPipeline)                  \
  X(vkCmdBindDescriptorSets)            \
  X(vkCmdPushConstants)                 \
  X(vkCmdDispatch)                      \
  X(vkCmdPipelineBarrier)               \
  X(vkCmdCopyBuffer)                    \
  X(vkCmdFillBuffer)                    \
  X(vkCmdUpdateBuffer)   \
  X(vkCmdCopyBufferToImage)             \
  X(vkCmdCopyImageToBuffer)

namespace tessera::vk {

struct Functions {
  PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr = nullptr;
#define TESSERA_VK_DECLARE(name) PFN_##name name = nullptr;
  TESSERA_VK_GLOBAL_FUNCTIONS(TESSERA_VK_DECLARE)
  TESSERA_VK_INSTANCE_FUNCTIONS(TESSERA_VK_DECLARE)
  TESSERA_VK_DEBUG_FUNCTIONS(TESSERA_VK_DECLARE)
  TESSERA_VK_DEVICE_FUNCTIONS(TESSERA_VK_DECLARE)
#undef TESSERA_VK_DECLARE

  // Each stage throws tessera::Error naming the first entry point that could not be loaded.
  // Debug-utils functions are optional and left null when the extension is absent.
  void loadGlobal(PFN_vkGetInstanceProcAddr gipa);
  void loadInstance(VkInstance instance);
  void loadDevice(VkDevice device, PFN_vkGetDeviceProcAddr gdpa);
};

const char* resultName(VkResult r);

}  // namespace tessera::vk
