#pragma once
// The fixture every GPU test uses: one standalone device per test process with the Khronos
// validation layer on; any validation message during a test fails that test.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "device.hpp"
#include "tensor.hpp"
#include "vk/kernel.hpp"

namespace tessera::test {

class GpuTest : public ::testing::Test {
 public:
  static runtime::Device& device();
  static const vk::Gpu& gpu() { return device().gpu(); }
  static vk::KernelCache& kernels();
  // Storage types this device can run: F32 always, F16 when 16-bit storage is enabled.
  static std::vector<DType> precisions();

 protected:
  void SetUp() override;
  void TearDown() override;

 private:
  std::size_t messagesAtStart_ = 0;
};

// Validation messages seen by the shared device so far.
const std::vector<std::string>& validationMessages();

}  // namespace tessera::test
