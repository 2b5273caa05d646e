// Results, messages and the library's version: the parts of the C ABI with no object.
#include "handles.hpp"

namespace tessera::runtime {
namespace {
thread_local std::string lastError;
}

tsr_result setError(tsr_result result, const std::string& message) {
  lastError = message;
  return result;
}

const char* lastErrorText() { return lastError.c_str(); }

tsr_result resultFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return TSR_ERROR_INVALID_ARGUMENT;
    case ErrorCode::OutOfArena: return TSR_ERROR_OUT_OF_ARENA;
    case ErrorCode::DeviceFeatureMissing: return TSR_ERROR_DEVICE_FEATURE_MISSING;
    case ErrorCode::NoDevice: return TSR_ERROR_NO_DEVICE;
    case ErrorCode::Vulkan: return TSR_ERROR_VULKAN;
    case ErrorCode::CorruptModel: return TSR_ERROR_CORRUPT_MODEL;
    case ErrorCode::Unsupported: return TSR_ERROR_UNSUPPORTED;
    case ErrorCode::Io: return TSR_ERROR_IO;
    case ErrorCode::Busy: return TSR_ERROR_BUSY;
  }
  return TSR_ERROR_INTERNAL;
}

}  // namespace tessera::runtime

extern "C" {

const char* tsr_last_error(void) { return tessera::runtime::lastErrorText(); }

const char* tsr_result_name(tsr_result r) {
  switch (tessera::runtime::enumValue(r)) {
    case TSR_SUCCESS: return "TSR_SUCCESS";
    case TSR_NOT_READY: return "TSR_NOT_READY";
    case TSR_ERROR_INVALID_ARGUMENT: return "TSR_ERROR_INVALID_ARGUMENT";
    case TSR_ERROR_OUT_OF_ARENA: return "TSR_ERROR_OUT_OF_ARENA";
    case TSR_ERROR_DEVICE_FEATURE_MISSING: return "TSR_ERROR_DEVICE_FEATURE_MISSING";
    case TSR_ERROR_NO_DEVICE: return "TSR_ERROR_NO_DEVICE";
    case TSR_ERROR_VULKAN: return "TSR_ERROR_VULKAN";
    case TSR_ERROR_CORRUPT_MODEL: return "TSR_ERROR_CORRUPT_MODEL";
    case TSR_ERROR_UNSUPPORTED: return "TSR_ERROR_UNSUPPORTED";
    case TSR_ERROR_IO: return "TSR_ERROR_IO";
    case TSR_ERROR_BUSY: return "TSR_ERROR_BUSY";
    case TSR_ERROR_INTERNAL: return "TSR_ERROR_INTERNAL";
    default: break;
  }
  return "TSR_RESULT_UNKNOWN";
}

const char* tsr_version_string(void) { return TESSERA_VERSION_STRING; }

}  // extern "C"
