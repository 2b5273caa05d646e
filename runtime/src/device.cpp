#include "device.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "error.hpp"

namespace tessera::runtime {

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";

int typeRank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int computeQueueFamily(const vk::Functions& fn, VkPhysicalDevice pd) {
  uint32_t count = 0;
  fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, nullptr);
  std::vector<VkQueueFamilyProperties> fam(count);
  fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &count, fam.data());
  // Prefer a compute-only family (async compute on GPUs), else any family with compute.
  int any = -1;
  for (uint32_t i = 0; i < count; ++i) {
    if (!(fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (!(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) return static_cast<int>(i);
    if (any < 0) any = static_cast<int>(i);
  }
  return any;
}

bool hasDeviceExtension(const vk::Functions& fn, VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  fn.vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> ext(n);
  fn.vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, ext.data());
  return std::any_of(ext.begin(), ext.end(), [&](auto& e) { return std::strcmp(e.extensionName, name) == 0; });
}

}  // namespace

VkBool32 Device::debugCallback(VkDebugUtilsMessageSeverityFlagBitsEXT,
                               VkDebugUtilsMessageTypeFlagsEXT,
                               const VkDebugUtilsMessengerCallbackDataEXT* data, void* user) {
  auto* self = static_cast<Device*>(user);
  ++self->validationCount_;
  if (self->onMessage_) self->onMessage_(data && data->pMessage ? data->pMessage : "(no message)");
  return VK_FALSE;
}

std::unique_ptr<Device> Device::createStandalone(const StandaloneOptions& options) {
  std::unique_ptr<Device> d(new Device());
  d->owned_ = true;
  d->onMessage_ = options.onValidationMessage;
  // The loader is opened at run time so an application that never uses standalone mode does not
  // depend on it, and so the host's own loader state is never touched.
  d->loader_ = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!d->loader_) d->loader_ = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
  if (!d->loader_) fail(ErrorCode::NoDevice, "cannot load the Vulkan loader (libvulkan.so.1)");
  auto gipa = reinterpret_cast<PFN_vkGetInstanceProcAddr>(dlsym(d->loader_, "vkGetInstanceProcAddr"));
  vk::Functions& fn = d->gpu_.fn;
  fn.loadGlobal(gipa);

  uint32_t apiVersion = VK_API_VERSION_1_0;
  if (fn.vkEnumerateInstanceVersion) fn.vkEnumerateInstanceVersion(&apiVersion);
  if (apiVersion < VK_API_VERSION_1_1)
    fail(ErrorCode::NoDevice, "the Vulkan loader supports only Vulkan 1.0; tessera needs 1.1");

  std::vector<const char*> layers, extensions;
  if (options.validation) {
    uint32_t n = 0;
    fn.vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> lp(n);
    fn.vkEnumerateInstanceLayerProperties(&n, lp.data());
    if (std::none_of(lp.begin(), lp.end(), [](auto& l) { return std::strcmp(l.layerName, kValidationLayer) == 0; }))
      fail(ErrorCode::DeviceFeatureMissing, "validation requested but VK_LAYER_KHRONOS_validation is not installed");
    layers.push_back(kValidationLayer);
    extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    // The layer provides VK_EXT_validation_features; synchronization validation is off by default.
    uint32_t ne = 0;
    fn.vkEnumerateInstanceExtensionProperties(kValidationLayer, &ne, nullptr);
    std::vector<VkExtensionProperties> ep(ne);
    fn.vkEnumerateInstanceExtensionProperties(kValidationLayer, &ne, ep.data());
    if (std::any_of(ep.begin(), ep.end(), [](auto& e) {
          return std::strcmp(e.extensionName, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME) == 0;
        }))
      extensions.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tessera";
  app.pEngineName = "tessera";
  app.apiVersion = VK_API_VERSION_1_2;
  VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  mci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                    VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
  mci.pfnUserCallback = &Device::debugCallback;
  mci.pUserData = d.get();
  const VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = &sync;
  features.pNext = &mci;  // the messenger's own create info must carry no features
  const bool syncValidation = options.validation && extensions.size() == 2;
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  // The messenger also catches messages from create/destroy.
  ici.pNext = syncValidation ? static_cast<const void*>(&features) : options.validation ? &mci : nullptr;
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = static_cast<uint32_t>(layers.size());
  ici.ppEnabledLayerNames = layers.data();
  ici.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
  ici.ppEnabledExtensionNames = extensions.data();
  TESSERA_VK_CHECK(fn.vkCreateInstance(&ici, nullptr, &d->gpu_.instance));
  fn.loadInstance(d->gpu_.instance);
  if (options.validation) {
    if (!fn.vkCreateDebugUtilsMessengerEXT) fail(ErrorCode::DeviceFeatureMissing, "VK_EXT_debug_utils missing");
    TESSERA_VK_CHECK(fn.vkCreateDebugUtilsMessengerEXT(d->gpu_.instance, &mci, nullptr, &d->messenger_));
  }

  uint32_t count = 0;
  fn.vkEnumeratePhysicalDevices(d->gpu_.instance, &count, nullptr);
  std::vector<VkPhysicalDevice> pds(count);
  fn.vkEnumeratePhysicalDevices(d->gpu_.instance, &count, pds.data());
  if (pds.empty()) fail(ErrorCode::NoDevice, "no Vulkan physical device found");

  std::string selector = options.deviceSelector;
  if (selector.empty())
    if (const char* env = std::getenv("TESSERA_DEVICE")) selector = env;
  VkPhysicalDevice chosen = VK_NULL_HANDLE;
  int bestRank = 1 << 30;
  std::string names;
  for (uint32_t i = 0; i < count; ++i) {
    VkPhysicalDeviceProperties p;
    fn.vkGetPhysicalDeviceProperties(pds[i], &p);
    names += (names.empty() ? "" : ", ") + std::to_string(i) + ": " + p.deviceName;
    if (p.apiVersion < VK_API_VERSION_1_1 || computeQueueFamily(fn, pds[i]) < 0) continue;
    if (!selector.empty()) {
      const bool byIndex = std::all_of(selector.begin(), selector.end(),
                                       [](unsigned char c) { return std::isdigit(c) != 0; });
      if ((byIndex && std::to_string(i) == selector) ||
          (!byIndex && lower(p.deviceName).find(lower(selector)) != std::string::npos)) {
        chosen = pds[i];
        break;
      }
      continue;
    }
    if (typeRank(p.deviceType) < bestRank) {
      bestRank = typeRank(p.deviceType);
      chosen = pds[i];
    }
  }
  if (!chosen)
    fail(ErrorCode::NoDevice, selector.empty()
                                  ? "no Vulkan 1.1 device with a compute queue (devices: " + names + ")"
                                  : "no usable Vulkan device matches '" + selector + "' (devices: " + names + ")");
  d->gpu_.physicalDevice = chosen;
  d->gpu_.queueFamily = static_cast<uint32_t>(computeQueueFamily(fn, chosen));

  VkPhysicalDeviceProperties props;
  fn.vkGetPhysicalDeviceProperties(chosen, &props);
  VkPhysicalDeviceShaderFloat16Int8Features f16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDevice16BitStorageFeatures s16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  const bool f16Available = props.apiVersion >= VK_API_VERSION_1_2 ||
                            hasDeviceExtension(fn, chosen, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
  s16.pNext = f16Available ? &f16 : nullptr;
  VkPhysicalDeviceFeatures2 feats{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &s16};
  fn.vkGetPhysicalDeviceFeatures2(chosen, &feats);

  VkPhysicalDevice16BitStorageFeatures want16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceShaderFloat16Int8Features wantF16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  want16.storageBuffer16BitAccess = options.enableFp16 && s16.storageBuffer16BitAccess;
  wantF16.shaderFloat16 = options.enableFp16 && f16Available && f16.shaderFloat16;
  want16.pNext = wantF16.shaderFloat16 ? &wantF16 : nullptr;
  std::vector<const char*> devExt;
  if (wantF16.shaderFloat16 && props.apiVersion < VK_API_VERSION_1_2)
    devExt.push_back(VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = d->gpu_.queueFamily;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &want16;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = static_cast<uint32_t>(devExt.size());
  dci.ppEnabledExtensionNames = devExt.data();
  TESSERA_VK_CHECK(fn.vkCreateDevice(chosen, &dci, nullptr, &d->gpu_.device));
  fn.loadDevice(d->gpu_.device, fn.vkGetDeviceProcAddr);
  fn.vkGetDeviceQueue(d->gpu_.device, d->gpu_.queueFamily, 0, &d->gpu_.queue);
  fn.vkGetPhysicalDeviceMemoryProperties(chosen, &d->gpu_.memory);
  d->gpu_.facts = vk::probeFacts(fn, chosen, want16.storageBuffer16BitAccess, wantF16.shaderFloat16,
                                 d->gpu_.queueFamily);
  return d;
}

std::unique_ptr<Device> Device::fromHost(const HostDevice& host) {
  if (!host.instance || !host.physicalDevice || !host.device)
    fail(ErrorCode::InvalidArgument, "host device: instance, physical device and device are all required");
  if (!host.getInstanceProcAddr || !host.getDeviceProcAddr)
    fail(ErrorCode::InvalidArgument, "host device: vkGetInstanceProcAddr and vkGetDeviceProcAddr are required");
  std::unique_ptr<Device> d(new Device());
  vk::Gpu& g = d->gpu_;
  g.fn.vkGetInstanceProcAddr = host.getInstanceProcAddr;
  g.fn.loadInstance(host.instance);
  VkPhysicalDeviceProperties props;
  g.fn.vkGetPhysicalDeviceProperties(host.physicalDevice, &props);
  if (props.apiVersion < VK_API_VERSION_1_1)
    fail(ErrorCode::DeviceFeatureMissing, "host device supports only Vulkan 1.0; tessera needs 1.1");
  g.fn.loadDevice(host.device, host.getDeviceProcAddr);
  g.instance = host.instance;
  g.physicalDevice = host.physicalDevice;
  g.device = host.device;
  g.queueFamily = host.queueFamily;
  g.queueIndex = host.queueIndex;
  uint32_t famCount = 0;
  g.fn.vkGetPhysicalDeviceQueueFamilyProperties(host.physicalDevice, &famCount, nullptr);
  std::vector<VkQueueFamilyProperties> fam(famCount);
  g.fn.vkGetPhysicalDeviceQueueFamilyProperties(host.physicalDevice, &famCount, fam.data());
  if (host.queueFamily >= famCount || !(fam[host.queueFamily].queueFlags & VK_QUEUE_COMPUTE_BIT) ||
      host.queueIndex >= fam[host.queueFamily].queueCount)
    fail(ErrorCode::InvalidArgument, "host device: queue family " + std::to_string(host.queueFamily) +
                                         " index " + std::to_string(host.queueIndex) +
                                         " is not a compute queue of this device");
  g.fn.vkGetDeviceQueue(host.device, host.queueFamily, host.queueIndex, &g.queue);
  g.fn.vkGetPhysicalDeviceMemoryProperties(host.physicalDevice, &g.memory);
  g.facts = vk::probeFacts(g.fn, host.physicalDevice, host.storageBuffer16BitAccess, host.shaderFloat16,
                           host.queueFamily);
  return d;
}

Device::~Device() {
  if (!owned_) return;
  vk::Functions& fn = gpu_.fn;
  if (gpu_.device) {
    fn.vkDeviceWaitIdle(gpu_.device);
    fn.vkDestroyDevice(gpu_.device, nullptr);
  }
  if (messenger_) fn.vkDestroyDebugUtilsMessengerEXT(gpu_.instance, messenger_, nullptr);
  if (gpu_.instance) fn.vkDestroyInstance(gpu_.instance, nullptr);
  if (loader_) dlclose(loader_);
}

}  // namespace tessera::runtime
