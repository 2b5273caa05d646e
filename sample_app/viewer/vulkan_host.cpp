#include "vulkan_host.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "tessera/tessera.hpp"

namespace tessera::viewer {

const char* resultName(VkResult r) {
  switch (r) {
    case VK_SUCCESS:
      return "VK_SUCCESS";
    case VK_NOT_READY:
      return "VK_NOT_READY";
    case VK_TIMEOUT:
      return "VK_TIMEOUT";
    case VK_SUBOPTIMAL_KHR:
      return "VK_SUBOPTIMAL_KHR";
    case VK_ERROR_OUT_OF_HOST_MEMORY:
      return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
      return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED:
      return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST:
      return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT:
      return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT:
      return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT:
      return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER:
      return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_FORMAT_NOT_SUPPORTED:
      return "VK_ERROR_FORMAT_NOT_SUPPORTED";
    case VK_ERROR_SURFACE_LOST_KHR:
      return "VK_ERROR_SURFACE_LOST_KHR";
    case VK_ERROR_NATIVE_WINDOW_IN_USE_KHR:
      return "VK_ERROR_NATIVE_WINDOW_IN_USE_KHR";
    case VK_ERROR_OUT_OF_DATE_KHR:
      return "VK_ERROR_OUT_OF_DATE_KHR";
    default:
      return "VkResult";
  }
}

void vkCheck(VkResult result, const char* what) {
  if (result != VK_SUCCESS)
    throw VulkanError(std::string(what) + " failed: " + resultName(result) + " (" +
                      std::to_string(int(result)) + ")");
}

// ---- instance -------------------------------------------------------------------------------

Instance::Instance(const std::vector<const char*>& extensions, bool validation) {
  uint32_t loaderVersion = VK_API_VERSION_1_0;
  vkEnumerateInstanceVersion(&loaderVersion);
  // 1.2 lets the device's fp16 arithmetic feature be queried and enabled without an extension.
  apiVersion_ = std::min<uint32_t>(loaderVersion, VK_API_VERSION_1_2);
  if (apiVersion_ < VK_API_VERSION_1_1)
    throw VulkanError("the Vulkan loader is older than 1.1, which tessera needs");

  std::vector<const char*> exts = extensions;
  const char* layer = "VK_LAYER_KHRONOS_validation";
  if (validation) {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> layers(n);
    vkEnumerateInstanceLayerProperties(&n, layers.data());
    const bool found = std::any_of(layers.begin(), layers.end(), [&](const VkLayerProperties& l) {
      return std::strcmp(l.layerName, layer) == 0;
    });
    if (!found) throw VulkanError("--validation: VK_LAYER_KHRONOS_validation is not installed");
    exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    // The layer provides it; it turns on synchronization validation (hazards between commands).
    exts.push_back(VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME);
  }

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "tessera-viewer";
  app.pEngineName = "tessera";
  app.apiVersion = apiVersion_;
  VkDebugUtilsMessengerCreateInfoEXT mci{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
  mci.messageSeverity =
      VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
  mci.messageType =
      VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT;
  mci.pfnUserCallback = &Instance::onMessage;
  mci.pUserData = this;
  const VkValidationFeatureEnableEXT sync = VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
  VkValidationFeaturesEXT features{VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
  features.enabledValidationFeatureCount = 1;
  features.pEnabledValidationFeatures = &sync;
  features.pNext = &mci;  // the messenger's own create info must carry no features
  VkInstanceCreateInfo ici{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  // The messenger also reports what instance creation itself finds.
  ici.pNext = validation ? static_cast<const void*>(&features) : nullptr;
  ici.pApplicationInfo = &app;
  ici.enabledLayerCount = validation ? 1 : 0;
  ici.ppEnabledLayerNames = &layer;
  ici.enabledExtensionCount = uint32_t(exts.size());
  ici.ppEnabledExtensionNames = exts.data();
  vkCheck(vkCreateInstance(&ici, nullptr, &instance_), "vkCreateInstance");
  if (validation) {
    auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
    vkCheck(create ? create(instance_, &mci, nullptr, &messenger_) : VK_ERROR_EXTENSION_NOT_PRESENT,
            "vkCreateDebugUtilsMessengerEXT");
  }
}

Instance::~Instance() {
  if (messenger_) {
    auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
        vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
    if (destroy) destroy(instance_, messenger_, nullptr);
  }
  vkDestroyInstance(instance_, nullptr);
}

VKAPI_ATTR VkBool32 VKAPI_CALL Instance::onMessage(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT,
                                                   const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                   void* user) {
  auto* self = static_cast<Instance*>(user);
  ++self->messages_;
  std::fprintf(stderr, "validation %s: %s\n",
               severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
               data && data->pMessage ? data->pMessage : "");
  return VK_FALSE;
}

// ---- device ---------------------------------------------------------------------------------

namespace {

struct Candidate {
  VkPhysicalDevice pd = VK_NULL_HANDLE;
  VkPhysicalDeviceProperties props{};
  uint32_t family = UINT32_MAX;
  std::string whyNot;  // empty: usable
};

int typeRank(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 3;
    default:
      return 4;
  }
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool hasExtension(VkPhysicalDevice pd, const char* name) {
  uint32_t n = 0;
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
  std::vector<VkExtensionProperties> exts(n);
  vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());
  return std::any_of(exts.begin(), exts.end(),
                     [&](const VkExtensionProperties& e) { return std::strcmp(e.extensionName, name) == 0; });
}

// One queue does everything: the frame's graphics, tessera's compute slices recorded into the
// same command buffer, and presenting.
Candidate inspect(VkPhysicalDevice pd, VkSurfaceKHR surface, const tsr_device_requirements& req,
                  const std::vector<const char*>& extensions) {
  Candidate c;
  c.pd = pd;
  vkGetPhysicalDeviceProperties(pd, &c.props);
  if (c.props.apiVersion < req.min_api_version) {
    c.whyNot = "Vulkan " + std::to_string(VK_API_VERSION_MAJOR(c.props.apiVersion)) + "." +
               std::to_string(VK_API_VERSION_MINOR(c.props.apiVersion)) + " is older than tessera needs";
    return c;
  }
  for (const char* e : extensions)
    if (!hasExtension(pd, e)) {
      c.whyNot = std::string("lacks ") + e;
      return c;
    }
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> fams(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fams.data());
  const VkQueueFlags need = VK_QUEUE_GRAPHICS_BIT | req.queue_flags;
  for (uint32_t i = 0; i < n && c.family == UINT32_MAX; ++i) {
    if ((fams[i].queueFlags & need) != need) continue;
    VkBool32 present = VK_TRUE;
    if (surface) vkGetPhysicalDeviceSurfaceSupportKHR(pd, i, surface, &present);
    if (present) c.family = i;
  }
  if (c.family == UINT32_MAX)
    c.whyNot = surface ? "no queue family does graphics, compute and presenting to the window"
                       : "no queue family does graphics and compute";
  return c;
}

}  // namespace

Device::Device(const Instance& instance, VkSurfaceKHR surface, const std::string& selector) {
  const tsr_device_requirements req = tsr::deviceRequirements();
  std::vector<const char*> extensions(req.required_device_extensions,
                                      req.required_device_extensions + req.required_device_extension_count);
  if (surface) extensions.push_back(VK_KHR_SWAPCHAIN_EXTENSION_NAME);

  uint32_t n = 0;
  vkEnumeratePhysicalDevices(instance.get(), &n, nullptr);
  std::vector<VkPhysicalDevice> pds(n);
  vkEnumeratePhysicalDevices(instance.get(), &n, pds.data());
  std::vector<Candidate> all;
  for (VkPhysicalDevice pd : pds) all.push_back(inspect(pd, surface, req, extensions));

  const Candidate* chosen = nullptr;
  std::string listing;
  for (std::size_t i = 0; i < all.size(); ++i)
    listing += "\n  " + std::to_string(i) + ": " + all[i].props.deviceName +
               (all[i].whyNot.empty() ? "" : " (" + all[i].whyNot + ")");
  if (!selector.empty()) {
    const bool numeric =
        std::all_of(selector.begin(), selector.end(), [](char ch) { return std::isdigit(ch); });
    for (std::size_t i = 0; i < all.size() && !chosen; ++i)
      if (numeric ? std::to_string(i) == selector
                  : lower(all[i].props.deviceName).find(lower(selector)) != std::string::npos)
        chosen = &all[i];
    if (!chosen)
      throw VulkanError("--device " + selector + " matches no Vulkan device; there are:" + listing);
    if (!chosen->whyNot.empty())
      throw VulkanError(std::string("device ") + chosen->props.deviceName +
                        " cannot run the viewer: " + chosen->whyNot);
  } else {
    for (const Candidate& c : all)
      if (c.whyNot.empty() && (!chosen || typeRank(c.props.deviceType) < typeRank(chosen->props.deviceType)))
        chosen = &c;
    if (!chosen)
      throw VulkanError("no Vulkan device can run the viewer:" + (listing.empty() ? " none found" : listing));
  }
  physical_ = chosen->pd;
  properties_ = chosen->props;
  queueFamily_ = chosen->family;
  vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);
  {
    uint32_t nf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nf, nullptr);
    std::vector<VkQueueFamilyProperties> fams(nf);
    vkGetPhysicalDeviceQueueFamilyProperties(physical_, &nf, fams.data());
    timestampBits_ = fams[queueFamily_].timestampValidBits;
  }

  // The optional features tessera wants, enabled where the device has them.
  const bool core12 = std::min(instance.apiVersion(), properties_.apiVersion) >= VK_API_VERSION_1_2;
  VkPhysicalDeviceShaderFloat16Int8Features hasF16{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDevice16BitStorageFeatures hasS16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  hasS16.pNext = core12 ? &hasF16 : nullptr;
  VkPhysicalDeviceFeatures2 has{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &hasS16};
  vkGetPhysicalDeviceFeatures2(physical_, &has);
  storage16_ = req.want_storage_buffer_16bit_access && hasS16.storageBuffer16BitAccess;
  float16_ = core12 && req.want_shader_float16 && hasF16.shaderFloat16;

  VkPhysicalDeviceShaderFloat16Int8Features useF16{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  useF16.shaderFloat16 = float16_;
  VkPhysicalDevice16BitStorageFeatures useS16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  useS16.storageBuffer16BitAccess = storage16_;
  useS16.pNext = core12 ? &useF16 : nullptr;
  VkPhysicalDeviceFeatures2 use{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, &useS16};

  const float priority = 1.0f;
  VkDeviceQueueCreateInfo qci{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
  qci.queueFamilyIndex = queueFamily_;
  qci.queueCount = 1;
  qci.pQueuePriorities = &priority;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &use;
  dci.queueCreateInfoCount = 1;
  dci.pQueueCreateInfos = &qci;
  dci.enabledExtensionCount = uint32_t(extensions.size());
  dci.ppEnabledExtensionNames = extensions.data();
  vkCheck(vkCreateDevice(physical_, &dci, nullptr, &device_), "vkCreateDevice");
  vkGetDeviceQueue(device_, queueFamily_, 0, &queue_);
}

Device::~Device() {
  if (device_) vkDestroyDevice(device_, nullptr);
}

uint64_t Device::timestampMask() const {
  return timestampBits_ >= 64 ? ~uint64_t(0) : (uint64_t(1) << timestampBits_) - 1;
}

tsr_host_device_desc Device::hostDesc(VkInstance instance) const {
  tsr_host_device_desc d = tsr::hostDeviceDesc();
  d.instance = instance;
  d.physical_device = physical_;
  d.device = device_;
  d.queue_family = queueFamily_;
  d.queue_index = 0;
  d.get_instance_proc_addr = &vkGetInstanceProcAddr;
  d.get_device_proc_addr = &vkGetDeviceProcAddr;
  d.storage_buffer_16bit_access = storage16_;
  d.shader_float16 = float16_;
  return d;
}

uint32_t Device::memoryType(uint32_t typeBits, VkMemoryPropertyFlags flags) const {
  for (uint32_t i = 0; i < memory_.memoryTypeCount; ++i)
    if ((typeBits & (1u << i)) && (memory_.memoryTypes[i].propertyFlags & flags) == flags) return i;
  throw VulkanError("no memory type with the properties the viewer needs");
}

// ---- host buffer ----------------------------------------------------------------------------

HostBuffer::HostBuffer(const Device& device, VkDeviceSize size, VkBufferUsageFlags usage)
    : device_(device.get()), size_(size) {
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = size;
  bci.usage = usage;
  vkCheck(vkCreateBuffer(device_, &bci, nullptr, &buffer_), "vkCreateBuffer (readback)");
  VkMemoryRequirements mr;
  vkGetBufferMemoryRequirements(device_, buffer_, &mr);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = mr.size;
  mai.memoryTypeIndex = device.memoryType(
      mr.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
  vkCheck(vkAllocateMemory(device_, &mai, nullptr, &memory_), "vkAllocateMemory (readback)");
  vkCheck(vkBindBufferMemory(device_, buffer_, memory_, 0), "vkBindBufferMemory (readback)");
  vkCheck(vkMapMemory(device_, memory_, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory (readback)");
}

HostBuffer::~HostBuffer() {
  vkDestroyBuffer(device_, buffer_, nullptr);
  vkFreeMemory(device_, memory_, nullptr);
}

void imageBarrier(VkCommandBuffer cmd, VkImage image, uint32_t levels, VkImageLayout from, VkImageLayout to,
                  VkPipelineStageFlags srcStage, VkAccessFlags srcAccess, VkPipelineStageFlags dstStage,
                  VkAccessFlags dstAccess) {
  VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
  b.srcAccessMask = srcAccess;
  b.dstAccessMask = dstAccess;
  b.oldLayout = from;
  b.newLayout = to;
  b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
  b.image = image;
  b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, levels, 0, 1};
  vkCmdPipelineBarrier(cmd, srcStage, dstStage, 0, 0, nullptr, 0, nullptr, 1, &b);
}

}  // namespace tessera::viewer
