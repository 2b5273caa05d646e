#include "gpu_test.hpp"

#include <mutex>

namespace tessera::test {

namespace {
std::mutex gMessagesMutex;
std::vector<std::string> gMessages;
}  // namespace

const std::vector<std::string>& validationMessages() { return gMessages; }

runtime::Device& GpuTest::device() {
  static std::unique_ptr<runtime::Device> d = [] {
    runtime::StandaloneOptions o;
    o.validation = true;
    o.onValidationMessage = [](const std::string& m) {
      std::lock_guard<std::mutex> lock(gMessagesMutex);
      gMessages.push_back(m);
    };
    return runtime::Device::createStandalone(o);
  }();
  return *d;
}

vk::KernelCache& GpuTest::kernels() {
  static vk::KernelCache cache(gpu());
  return cache;
}

std::vector<DType> GpuTest::precisions() {
  std::vector<DType> p{DType::F32};
  if (gpu().facts.storage16) p.push_back(DType::F16);
  return p;
}

void GpuTest::SetUp() {
  device();
  messagesAtStart_ = gMessages.size();
}

void GpuTest::TearDown() {
  std::lock_guard<std::mutex> lock(gMessagesMutex);
  for (std::size_t i = messagesAtStart_; i < gMessages.size(); ++i)
    ADD_FAILURE() << "Vulkan validation: " << gMessages[i];
}

}  // namespace tessera::test
