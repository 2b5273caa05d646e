// tessera — the C++ wrapper: RAII handles over the C ABI in tessera.h, and an exception
// (tsr::Error, carrying the result code and the message) in place of result codes.
// Header-only; it adds no state of its own.
#pragma once
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "tessera.h"

namespace tsr {

class Error : public std::runtime_error {
 public:
  Error(tsr_result result, const std::string& message) : std::runtime_error(message), result_(result) {}
  tsr_result result() const { return result_; }

 private:
  tsr_result result_;
};

// Throws tsr::Error for a failed call; TSR_SUCCESS and TSR_NOT_READY are returned.
inline tsr_result check(tsr_result r) {
  if (r < 0) throw Error(r, std::string(tsr_result_name(r)) + ": " + tsr_last_error());
  return r;
}

template <class T, void (*Defaults)(T*)>
T defaults() {
  T t{};
  Defaults(&t);
  return t;
}
inline tsr_standalone_desc standaloneDesc() { return defaults<tsr_standalone_desc, tsr_standalone_desc_defaults>(); }
inline tsr_host_device_desc hostDeviceDesc() { return defaults<tsr_host_device_desc, tsr_host_device_desc_defaults>(); }
inline tsr_generator_desc generatorDesc() { return defaults<tsr_generator_desc, tsr_generator_desc_defaults>(); }
inline tsr_request request() { return defaults<tsr_request, tsr_request_defaults>(); }

inline tsr_device_requirements deviceRequirements() {
  auto r = defaults<tsr_device_requirements, tsr_device_requirements_defaults>();
  check(tsr_get_device_requirements(&r));
  return r;
}

class Context {
 public:
  static Context standalone(const tsr_standalone_desc& desc = standaloneDesc()) {
    tsr_context c = nullptr;
    check(tsr_context_create_standalone(&desc, &c));
    return Context(c);
  }
  static Context fromDevice(const tsr_host_device_desc& desc) {
    tsr_context c = nullptr;
    check(tsr_context_create_from_device(&desc, &c));
    return Context(c);
  }
  tsr_context get() const { return h_.get(); }
  tsr_context_info info() const {
    auto i = defaults<tsr_context_info, tsr_context_info_defaults>();
    check(tsr_context_get_info(get(), &i));
    return i;
  }

 private:
  explicit Context(tsr_context c) : h_(c, &tsr_context_destroy) {}
  std::unique_ptr<tsr_context_t, void (*)(tsr_context)> h_;
};

class Model {
 public:
  static Model load(const std::string& path) {
    tsr_model m = nullptr;
    check(tsr_model_load_file(path.c_str(), &m));
    return Model(m);
  }
  static Model fromMemory(std::span<const std::byte> bytes) {
    tsr_model m = nullptr;
    check(tsr_model_load_memory(bytes.data(), bytes.size(), &m));
    return Model(m);
  }
  tsr_model get() const { return h_.get(); }
  tsr_model_info info() const {
    auto i = defaults<tsr_model_info, tsr_model_info_defaults>();
    check(tsr_model_get_info(get(), &i));
    return i;
  }
  std::string className(uint32_t index) const {
    const char* n = tsr_model_class_name(get(), index);
    return n ? n : "";
  }
  uint32_t findClass(const std::string& name) const {
    uint32_t i = 0;
    check(tsr_model_find_class(get(), name.c_str(), &i));
    return i;
  }

 private:
  explicit Model(tsr_model m) : h_(m, &tsr_model_destroy) {}
  std::unique_ptr<tsr_model_t, void (*)(tsr_model)> h_;
};

inline tsr_memory_requirements queryMemory(const Context& c, const Model& m, const tsr_generator_desc& d) {
  auto r = defaults<tsr_memory_requirements, tsr_memory_requirements_defaults>();
  check(tsr_query_memory(c.get(), m.get(), &d, &r));
  return r;
}

class Generator {
 public:
  Generator(const Context& c, const Model& m, const tsr_generator_desc& desc = generatorDesc()) : h_(nullptr, &tsr_generator_destroy) {
    tsr_generator g = nullptr;
    check(tsr_generator_create(c.get(), m.get(), &desc, &g));
    h_.reset(g);
  }
  tsr_generator get() const { return h_.get(); }

  void generate(std::span<const tsr_request> requests, tsr_progress_callback onProgress = nullptr,
                void* user = nullptr) {
    check(tsr_generate(get(), requests.data(), uint32_t(requests.size()), onProgress, user));
  }
  void begin(std::span<const tsr_request> requests) {
    check(tsr_generator_begin(get(), requests.data(), uint32_t(requests.size())));
  }
  void record(VkCommandBuffer cmd) { check(tsr_generator_record(get(), cmd)); }
  // True once everything is recorded.
  bool recordSlice(VkCommandBuffer cmd, double budget) {
    VkBool32 done = VK_FALSE;
    check(tsr_generator_record_slice(get(), cmd, budget, &done));
    return done == VK_TRUE;
  }
  void complete() { check(tsr_generator_complete(get())); }
  void cancel() { check(tsr_generator_cancel(get())); }
  void submit() { check(tsr_generator_submit(get())); }
  bool ready() { return check(tsr_generator_query(get())) == TSR_SUCCESS; }
  bool wait(uint64_t timeoutNs = UINT64_MAX) { return check(tsr_generator_wait(get(), timeoutNs)) == TSR_SUCCESS; }
  tsr_progress progress() const {
    auto p = defaults<tsr_progress, tsr_progress_defaults>();
    check(tsr_generator_get_progress(get(), &p));
    return p;
  }

 private:
  std::unique_ptr<tsr_generator_t, void (*)(tsr_generator)> h_;
};

}  // namespace tsr
