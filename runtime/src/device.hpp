#pragma once
// Device hookup: tessera either creates its own instance and device (standalone) or works on a
// device the host created, through the host's vkGet*ProcAddr, never touching global state.
#include <functional>
#include <memory>
#include <string>

#include "vk/gpu.hpp"

namespace tessera::runtime {

struct StandaloneOptions {
  // Enables VK_LAYER_KHRONOS_validation, with synchronization validation (hazards between
  // commands), and reports each warning or error message here.
  bool validation = false;
  std::function<void(const std::string&)> onValidationMessage;
  // Index into vkEnumeratePhysicalDevices or a case-insensitive part of the device name.
  // Empty: the TESSERA_DEVICE environment variable, else discrete > integrated > virtual > CPU.
  std::string deviceSelector;
  // Enable 16-bit storage / fp16 arithmetic when the device supports them.
  bool enableFp16 = true;
};

struct HostDevice {
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physicalDevice = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queueFamily = 0;
  uint32_t queueIndex = 0;
  PFN_vkGetInstanceProcAddr getInstanceProcAddr = nullptr;
  PFN_vkGetDeviceProcAddr getDeviceProcAddr = nullptr;
  // Which of the optional features the host enabled on its VkDevice.
  bool storageBuffer16BitAccess = false;
  bool shaderFloat16 = false;
};

class Device {
 public:
  static std::unique_ptr<Device> createStandalone(const StandaloneOptions& options = {});
  static std::unique_ptr<Device> fromHost(const HostDevice& host);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const vk::Gpu& gpu() const { return gpu_; }
  bool ownsDevice() const { return owned_; }
  // Number of validation messages seen so far (standalone with validation only).
  std::size_t validationMessageCount() const { return validationCount_; }

 private:
  Device() = default;
  struct Messenger;
  vk::Gpu gpu_;
  bool owned_ = false;
  void* loader_ = nullptr;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  std::function<void(const std::string&)> onMessage_;
  std::size_t validationCount_ = 0;
  static VKAPI_ATTR VkBool32 VKAPI_CALL debugCallback(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                      VkDebugUtilsMessageTypeFlagsEXT,
                                                      const VkDebugUtilsMessengerCallbackDataEXT*,
                                                      void*);
};

}  // namespace tessera::runtime
