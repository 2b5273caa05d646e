#pragma once
// A host application's own Vulkan setup, made the way a game would make it (the loader opened at
// run time, its own instance and device), for tests of what tessera does on a device it does not
// own. Header-only so any test program can use it without a build change.
#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "device.hpp"
#include "vk/functions.hpp"

namespace tessera::test {

class HostVulkan {
 public:
  // `validation`: the Khronos layer on the host's instance, every message kept in messages();
  // `syncValidation`: with synchronization validation too (hazards between commands), as every
  // test has it unless it says why not.
  explicit HostVulkan(bool validation = true, bool syncValidation = true) {
    loader_ = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!loader_) throw std::runtime_error("host: cannot open libvulkan.so.1");
    fn.loadGlobal(reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(loader_, "vkGetInstanceProcAddr")));

    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "host";
    app.apiVersion = VK_API_VERSION_1_2;
    const char* layer = "VK_LAYER_KHRONOS_validation";
    const char* exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    const VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
    features.enabledValidationFeatureCount = 1;
    features.pEnabledValidationFeatures = &sync;
    VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mci.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mci.pfnUserCallback = &HostVulkan::onMessage;
    mci.pUserData = this;
    VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    // The features go on the instance's chain only: the messenger's own create info must have none.
    features.pNext = &mci;
    ici.pNext = validation ? (syncValidation ? static_cast<const void*>(&features) : &mci) : nullptr;
    ici.pApplicationInfo = &app;
    ici.enabledLayerCount = validation ? 1 : 0;
    ici.ppEnabledLayerNames = &layer;
    ici.enabledExtensionCount = validation ? (syncValidation ? 2 : 1) : 0;
    ici.ppEnabledExtensionNames = exts;
    check(fn.vkCreateInstance(&ici, nullptr, &instance), "vkCreateInstance");
    fn.loadInstance(instance);
    if (validation)
      check(fn.vkCreateDebugUtilsMessengerEXT(instance, &mci, nullptr, &messenger_), "messenger");

    uint32_t count = 0;
    fn.vkEnumeratePhysicalDevices(instance, &count, nullptr);
    std::vector<VkPhysicalDevice> pds(count);
    fn.vkEnumeratePhysicalDevices(instance, &count, pds.data());
    for (VkPhysicalDevice pd : pds) {
      VkPhysicalDeviceProperties p;
      fn.vkGetPhysicalDeviceProperties(pd, &p);
      if (p.apiVersion < VK_API_VERSION_1_1) continue;
      uint32_t nf = 0;
      fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nf, nullptr);
      std::vector<VkQueueFamilyProperties> fam(nf);
      fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nf, fam.data());
      for (uint32_t i = 0; i < nf && !physicalDevice; ++i)
        if (fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
          physicalDevice = pd;
          queueFamily = i;
          deviceName = p.deviceName;
        }
      if (physicalDevice) break;
    }
    if (!physicalDevice) throw std::runtime_error("host: no Vulkan 1.1 device with a compute queue");

    VkPhysicalDevice16BitStorageFeatures s16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &s16};
    fn.vkGetPhysicalDeviceFeatures2(physicalDevice, &feats);
    storage16 = s16.storageBuffer16BitAccess;
    VkPhysicalDevice16BitStorageFeatures want16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    want16.storageBuffer16BitAccess = storage16;
    const float priority = 1.0f;
    VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qci.queueFamilyIndex = queueFamily;
    qci.queueCount = 1;
    qci.pQueuePriorities = &priority;
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &want16;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    check(fn.vkCreateDevice(physicalDevice, &dci, nullptr, &device), "vkCreateDevice");
    fn.loadDevice(device, fn.vkGetDeviceProcAddr);
    fn.vkGetPhysicalDeviceMemoryProperties(physicalDevice, &memory);
  }

  ~HostVulkan() {
    if (device) fn.vkDestroyDevice(device, nullptr);
    if (messenger_) fn.vkDestroyDebugUtilsMessengerEXT(instance, messenger_, nullptr);
    if (instance) fn.vkDestroyInstance(instance, nullptr);
    if (loader_) dlclose(loader_);
  }
  HostVulkan(const HostVulkan&) = delete;
  HostVulkan& operator=(const HostVulkan&) = delete;

  // What the host hands to tessera; `gdpa` lets a test put its own wrapper in between.
  runtime::HostDevice hostDevice(PFN_vkGetDeviceProcAddr gdpa = nullptr) const {
    runtime::HostDevice h;
    h.instance = instance;
    h.physicalDevice = physicalDevice;
    h.device = device;
    h.queueFamily = queueFamily;
    h.getInstanceProcAddr = fn.vkGetInstanceProcAddr;
    h.getDeviceProcAddr = gdpa ? gdpa : fn.vkGetDeviceProcAddr;
    h.storageBuffer16BitAccess = storage16;
    return h;
  }

  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

  vk::Functions fn;  // the host's own, straight from the loader
  VkInstance instance = VK_NULL_HANDLE;
  VkPhysicalDevice physicalDevice = VK_NULL_HANDLE;
  VkDevice device = VK_NULL_HANDLE;
  uint32_t queueFamily = 0;
  bool storage16 = false;
  std::string deviceName;
  VkPhysicalDeviceMemoryProperties memory{};

 private:
  static void check(VkResult r, const char* what) {
    if (r != VK_SUCCESS)
      throw std::runtime_error(std::string("host: ") + what + " failed: " + vk::resultName(r));
  }
  static VKAPI_ATTR VkBool32 VKAPI_CALL onMessage(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                  VkDebugUtilsMessageTypeFlagsEXT,
                                                  const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                  void* user) {
    auto* self = static_cast<HostVulkan*>(user);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->messages_.push_back(data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
  }

  void* loader_ = nullptr;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

}  // namespace tessera::test
