#pragma once
// The viewer's own Vulkan instance and device, created the way a game creates them: with the
// extensions its window needs and the features tessera asks for (tsr_get_device_requirements),
// then handed to tessera with tsr_context_create_from_device.
#include <vulkan/vulkan.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::viewer {

class VulkanError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws VulkanError naming the call and the result.
void vkCheck(VkResult result, const char* what);
const char* resultName(VkResult result);

class Instance {
 public:
  // `validation`: VK_LAYER_KHRONOS_validation, each warning and error printed and counted.
  Instance(const std::vector<const char*>& extensions, bool validation);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  VkInstance get() const { return instance_; }
  uint32_t apiVersion() const { return apiVersion_; }
  std::size_t validationMessages() const { return messages_; }

 private:
  static VKAPI_ATTR VkBool32 VKAPI_CALL onMessage(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                  VkDebugUtilsMessageTypeFlagsEXT,
                                                  const VkDebugUtilsMessengerCallbackDataEXT*, void*);
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  uint32_t apiVersion_ = VK_API_VERSION_1_1;
  std::size_t messages_ = 0;
};

class Device {
 public:
  // `surface` (may be null): the queue must be able to present to it. `selector`: an index into
  // vkEnumeratePhysicalDevices or part of a device name; empty picks discrete > integrated > CPU.
  Device(const Instance& instance, VkSurfaceKHR surface, const std::string& selector);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  VkPhysicalDevice physical() const { return physical_; }
  VkDevice get() const { return device_; }
  VkQueue queue() const { return queue_; }
  uint32_t queueFamily() const { return queueFamily_; }
  const VkPhysicalDeviceProperties& properties() const { return properties_; }
  bool timestamps() const { return timestampBits_ != 0; }
  uint64_t timestampMask() const;
  bool fp16Storage() const { return storage16_; }
  // What tsr_context_create_from_device needs to know.
  tsr_host_device_desc hostDesc(VkInstance instance) const;

  uint32_t memoryType(uint32_t typeBits, VkMemoryPropertyFlags flags) const;

 private:
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queueFamily_ = 0;
  uint32_t timestampBits_ = 0;
  bool storage16_ = false, float16_ = false;
  VkPhysicalDeviceProperties properties_{};
  VkPhysicalDeviceMemoryProperties memory_{};
};

// A host-visible, coherent buffer kept mapped (readbacks of images).
class HostBuffer {
 public:
  HostBuffer(const Device& device, VkDeviceSize size, VkBufferUsageFlags usage);
  ~HostBuffer();
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  VkBuffer get() const { return buffer_; }
  const void* data() const { return mapped_; }
  VkDeviceSize size() const { return size_; }

 private:
  VkDevice device_;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  void* mapped_ = nullptr;
  VkDeviceSize size_ = 0;
};

// One image memory barrier over all mip levels of a colour image.
void imageBarrier(VkCommandBuffer cmd, VkImage image, uint32_t levels, VkImageLayout from, VkImageLayout to,
                  VkPipelineStageFlags srcStage, VkAccessFlags srcAccess, VkPipelineStageFlags dstStage,
                  VkAccessFlags dstAccess);

}  // namespace tessera::viewer
