#pragma once
// What the C handles point to, and the one place C++ exceptions become result codes.
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>

#include "device.hpp"
#include "error.hpp"
#include "model_package.hpp"
#include "tessera/tessera.h"
#include "vk/kernel.hpp"

struct tsr_context_t {
  std::unique_ptr<tessera::runtime::Device> device;
  std::unique_ptr<tessera::vk::KernelCache> kernels;
  // Pipeline creation (the kernel cache) and the queue are shared by the context's generators.
  std::mutex mutex;
};

struct tsr_model_t {
  tessera::model::ModelPackage package;
};

namespace tessera::runtime {

// Records `message` as this thread's last error and returns `result`. Nothing clears it: it
// holds the last failure until the next one (tessera.h's tsr_last_error).
tsr_result setError(tsr_result result, const std::string& message);
const char* lastErrorText();
tsr_result resultFor(ErrorCode code);

// Runs `fn`, turning every exception into a result code and a message; never lets one escape
// into the host's C code.
template <class Fn>
tsr_result guard(const char* function, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const Error& e) {
    return setError(resultFor(e.code()), std::string(function) + ": " + e.what());
  } catch (const std::bad_alloc&) {
    return setError(TSR_ERROR_OUT_OF_ARENA, std::string(function) + ": out of host memory");
  } catch (const std::exception& e) {
    return setError(TSR_ERROR_INTERNAL, std::string(function) + ": " + e.what());
  } catch (...) {
    return setError(TSR_ERROR_INTERNAL, std::string(function) + ": unknown exception");
  }
}

// A C host can store any 32-bit integer in an enum field, and loading a value outside the
// enumerators' range as the C++ enum is undefined behaviour; so every enum field the host fills
// is read through this, as the integer it holds, and validated as one.
template <class E>
int32_t enumValue(const E& field) {
  static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int32_t), "public enums are 32 bits");
  int32_t v;
  std::memcpy(&v, &field, sizeof v);
  return v;
}

// Versioned structs: the caller's struct_size must cover at least the first version's fields.
template <class T>
void checkStruct(const T* s, const char* name, std::size_t minSize = sizeof(T)) {
  if (!s) fail(ErrorCode::InvalidArgument, std::string(name) + " is NULL");
  if (s->struct_size < minSize)
    fail(ErrorCode::InvalidArgument, std::string(name) + ".struct_size is " + std::to_string(s->struct_size) +
                                         "; set it with the matching tsr_*_defaults function (expected at least " +
                                         std::to_string(minSize) + ")");
}

}  // namespace tessera::runtime
