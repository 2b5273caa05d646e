#pragma once
// The one error type used inside tessera. The C API turns it into a result code and message.
#include <stdexcept>
#include <string>

namespace tessera {

enum class ErrorCode {
  InvalidArgument = 1,
  OutOfArena,
  DeviceFeatureMissing,
  NoDevice,
  Vulkan,
  CorruptModel,
  Unsupported,
  Io,
  Busy,  // an object already has work in flight
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void fail(ErrorCode code, const std::string& message);

}  // namespace tessera

// Throws tessera::Error (ErrorCode::Vulkan) naming the call and the VkResult when it fails.
#define TESSERA_VK_CHECK(call)                                                  \
  do {                                                                          \
    VkResult tessera_vk_result_ = (call);                                       \
    if (tessera_vk_result_ != VK_SUCCESS)                                       \
      ::tessera::vk::throwVkError(#call, tessera_vk_result_, __FILE__, __LINE__); \
  } while (0)

namespace tessera::vk {
[[noreturn]] void throwVkError(const char* call, int result, const char* file, int line);
}
