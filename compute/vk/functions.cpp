#include "vk/functions.hpp"

#include <string>

#include "error.hpp"

namespace tessera {
void fail(ErrorCode code, const std::string& message) { throw Error(code, message); }
}  // namespace tessera

namespace tessera::vk {

const char* resultName(VkResult r) {
  switch (r) {
#define CASE(x) \
  case x:       \
    return #x;
    CASE(VK_SUCCESS)
    CASE(VK_NOT_READY)
    CASE(VK_TIMEOUT)
    CASE(VK_INCOMPLETE)
    CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CASE(VK_ERROR_INITIALIZATION_FAILED)
    CASE(VK_ERROR_DEVICE_LOST)
    CASE(VK_ERROR_MEMORY_MAP_FAILED)
    CASE(VK_ERROR_LAYER_NOT_PRESENT)
    CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    CASE(VK_ERROR_TOO_MANY_OBJECTS)
    CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    CASE(VK_ERROR_FRAGMENTED_POOL)
    CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
#undef CASE
    default:
      return "VkResult(unknown)";
  }
}

void throwVkError(const char* call, int result, const char* file, int line) {
  throw Error(ErrorCode::Vulkan, std::string(call) + " failed with " +
                                     resultName(static_cast<VkResult>(result)) + " (" + file +
                                     ":" + std::to_string(line) + ")");
}

namespace {
template <class Fn>
void require(Fn fn, const char* name) {
  if (!fn) throw Error(ErrorCode::Vulkan, std::string("Vulkan entry point not available: ") + name);
}
}  // namespace

void Functions::loadGlobal(PFN_vkGetInstanceProcAddr gipa) {
  require(gipa, "vkGetInstanceProcAddr");
  vkGetInstanceProcAddr = gipa;
#define LOAD(name) name = reinterpret_cast<PFN_##name>(gipa(VK_NULL_HANDLE, #name));
  TESSERA_VK_GLOBAL_FUNCTIONS(LOAD)
#undef LOAD
  require(vkCreateInstance, "vkCreateInstance");
  require(vkEnumerateInstanceExtensionProperties, "vkEnumerateInstanceExtensionProperties");
}

void Functions::loadInstance(VkInstance instance) {
#define LOAD(name)                                                               \
  name = reinterpret_cast<PFN_##name>(vkGetInstanceProcAddr(instance, #name)); \
  require(name, #name);
  TESSERA_VK_INSTANCE_FUNCTIONS(LOAD)
#undef LOAD
#define LOAD_OPTIONAL(name) \
  name = reinterpret_cast<PFN_##name>(vkGetInstanceProcAddr(instance, #name));
  TESSERA_VK_DEBUG_FUNCTIONS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL
}

void Functions::loadDevice(VkDevice device, PFN_vkGetDeviceProcAddr gdpa) {
  require(gdpa, "vkGetDeviceProcAddr");
#define LOAD(name)                                            \
  name = reinterpret_cast<PFN_##name>(gdpa(device, #name)); \
  require(name, #name);
  TESSERA_VK_DEVICE_FUNCTIONS(LOAD)
#undef LOAD
}

}  // namespace tessera::vk
