// Device hookup: standalone selection and facts, host-created devices, and the validation layer
// actually reporting. Each test makes its own devices (not the shared fixture's), and fails on
// any validation message they produce except the one provoked on purpose.
#include "device.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <mutex>

#include "host_vulkan.hpp"
#include "op_harness.hpp"
#include "ops/eltwise.hpp"

namespace tessera::test {
namespace {

bool powerOfTwo(uint64_t v) { return v && !(v & (v - 1)); }

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Collects a standalone device's validation messages.
struct Messages {
  std::mutex mutex;
  std::vector<std::string> list;
  runtime::StandaloneOptions options(const std::string& selector = "") {
    runtime::StandaloneOptions o;
    o.validation = true;
    o.deviceSelector = selector;
    o.onValidationMessage = [this](const std::string& m) {
      std::lock_guard<std::mutex> lock(mutex);
      list.push_back(m);
    };
    return o;
  }
  void expectNone() {
    std::lock_guard<std::mutex> lock(mutex);
    for (const std::string& m : list) ADD_FAILURE() << "Vulkan validation: " << m;
  }
};

// Runs out = a + 2b on the device and compares with the CPU.
void expectComputes(const vk::Gpu& gpu) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  vk::KernelCache kernels(gpu);
  const Shape4 s{1, 13, 11, 7};
  TensorPool pool(gpu, 3 * s.count() * 4 + 4096);
  const Tensor a = pool.make(s, DType::F32), b = pool.make(s, DType::F32), out = pool.make(s, DType::F32);
  const auto va = randomVector(rng, s.count()), vb = randomVector(rng, s.count());
  pool.upload(a, va);
  pool.upload(b, vb);
  pool.poison(out);
  Program prog(gpu);
  ops::axpby(prog, kernels, a, b, out, 1.0f, 2.0f);
  runProgram(gpu, prog);
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = double(va[i]) + 2.0 * vb[i];
  expectClose(pool.download(out), want, DType::F32, "axpby");
}

// TESSERA_DEVICE would steer the default choice; these tests name their device themselves or
// set the variable explicitly, and put back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(DeviceTest, StandalonePicksADeviceWithSaneFacts) {
  Messages messages;
  auto d = runtime::Device::createStandalone(messages.options());
  const vk::Gpu& g = d->gpu();
  const vk::DeviceFacts& f = g.facts;
  EXPECT_TRUE(d->ownsDevice());
  EXPECT_NE(g.device, VK_NULL_HANDLE);
  EXPECT_NE(g.queue, VK_NULL_HANDLE);
  EXPECT_FALSE(f.name.empty());
  EXPECT_GE(f.apiVersion, VK_API_VERSION_1_1);
  EXPECT_GE(f.subgroupSize, 1u);
  EXPECT_TRUE(powerOfTwo(f.subgroupSize)) << f.subgroupSize;
  EXPECT_TRUE(powerOfTwo(f.minStorageBufferOffsetAlignment)) << f.minStorageBufferOffsetAlignment;
  EXPECT_TRUE(powerOfTwo(f.nonCoherentAtomSize)) << f.nonCoherentAtomSize;
  EXPECT_GT(f.maxStorageBufferRange, 0u);
  // The minimums every Vulkan device guarantees.
  EXPECT_GE(f.maxSharedMemory, 16384u);
  EXPECT_GE(f.maxWorkgroupInvocations, 128u);
  EXPECT_GE(f.maxPushConstantsSize, 128u);
  for (uint32_t c : f.maxWorkgroupCount) EXPECT_GE(c, 65535u);
  EXPECT_GT(g.memory.memoryTypeCount, 0u);
  if (lower(f.name).find("llvmpipe") != std::string::npos) {
    EXPECT_TRUE(f.isCpu()) << "lavapipe is a CPU device";
  }
  std::printf(
      "device: %s, type %d, subgroup %u (broadcast %d), shared %u B, storage range %llu B, "
      "offset alignment %llu, 16-bit storage %d, fp16 %d\n",
      f.name.c_str(), int(f.type), f.subgroupSize, int(f.hasSubgroupBroadcast()), f.maxSharedMemory,
      static_cast<unsigned long long>(f.maxStorageBufferRange),
      static_cast<unsigned long long>(f.minStorageBufferOffsetAlignment), int(f.storage16), int(f.float16));
  expectComputes(g);
  d.reset();
  messages.expectNone();
}

TEST(DeviceTest, SelectsByIndexAndByNameSubstring) {
  ScopedEnv env("TESSERA_DEVICE", nullptr);
  Messages messages;
  auto first = runtime::Device::createStandalone(messages.options("0"));
  const std::string name = first->gpu().facts.name;
  first.reset();
  // A part of the name in another case: the match ignores case.
  const std::string part = name.substr(0, std::min<std::size_t>(name.size(), 6));
  std::string shouted = part;
  for (char& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto byName = runtime::Device::createStandalone(messages.options(shouted));
  EXPECT_NE(lower(byName->gpu().facts.name).find(lower(part)), std::string::npos)
      << "'" << shouted << "' chose " << byName->gpu().facts.name;
  byName.reset();
  messages.expectNone();
}

TEST(DeviceTest, SelectorMatchingNothingListsTheDevices) {
  ScopedEnv env("TESSERA_DEVICE", nullptr);
  Messages messages;
  std::string name;
  {
    auto d = runtime::Device::createStandalone(messages.options("0"));
    name = d->gpu().facts.name;
  }
  expectError([&] { runtime::Device::createStandalone(messages.options("no-such-gpu-42")); },
              ErrorCode::NoDevice, "no usable Vulkan device matches 'no-such-gpu-42' (devices: 0: " + name);
  expectError([&] { runtime::Device::createStandalone(messages.options("97")); }, ErrorCode::NoDevice,
              "matches '97' (devices: 0: " + name);
  {
    // The variable is the selector when the options name none.
    ScopedEnv steer("TESSERA_DEVICE", "no-such-gpu-43");
    expectError([&] { runtime::Device::createStandalone(messages.options()); }, ErrorCode::NoDevice,
                "matches 'no-such-gpu-43'");
  }
  messages.expectNone();
}

TEST(DeviceTest, WorksOnAHostCreatedDevice) {
  HostVulkan host(true);
  {
    auto d = runtime::Device::fromHost(host.hostDevice());
    const vk::Gpu& g = d->gpu();
    EXPECT_FALSE(d->ownsDevice());
    EXPECT_EQ(g.device, host.device);
    EXPECT_EQ(g.physicalDevice, host.physicalDevice);
    EXPECT_EQ(g.queueFamily, host.queueFamily);
    EXPECT_NE(g.queue, VK_NULL_HANDLE);
    EXPECT_EQ(g.facts.name, host.deviceName);
    EXPECT_EQ(g.facts.storage16, host.storage16);
    EXPECT_TRUE(powerOfTwo(g.facts.subgroupSize));
    expectComputes(g);
  }
  // Releasing tessera's Device leaves the host's device alive and usable.
  EXPECT_EQ(host.fn.vkDeviceWaitIdle(host.device), VK_SUCCESS);
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = 256;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  EXPECT_EQ(host.fn.vkCreateBuffer(host.device, &bi, nullptr, &buffer), VK_SUCCESS);
  host.fn.vkDestroyBuffer(host.device, buffer, nullptr);
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation: " << m;
}

TEST(DeviceTest, RefusesABadHostQueueOrMissingHandles) {
  HostVulkan host(true);
  runtime::HostDevice h = host.hostDevice();
  h.queueFamily = 99;
  expectError([&] { runtime::Device::fromHost(h); }, ErrorCode::InvalidArgument,
              "queue family 99 index 0 is not a compute queue of this device");
  h = host.hostDevice();
  h.queueIndex = 7;  // the host made one queue
  expectError([&] { runtime::Device::fromHost(h); }, ErrorCode::InvalidArgument,
              "index 7 is not a compute queue");
  h = host.hostDevice();
  h.getDeviceProcAddr = nullptr;
  expectError([&] { runtime::Device::fromHost(h); }, ErrorCode::InvalidArgument, "vkGetDeviceProcAddr");
  h = host.hostDevice();
  h.device = VK_NULL_HANDLE;
  expectError([&] { runtime::Device::fromHost(h); }, ErrorCode::InvalidArgument, "device are all required");
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation: " << m;
}

TEST(DeviceTest, ValidationLayerReportsAnInvalidCall) {
  Messages messages;
  auto d = runtime::Device::createStandalone(messages.options());
  const vk::Gpu& g = d->gpu();
  ASSERT_EQ(d->validationMessageCount(), 0u);
  // A buffer with no usage at all breaks a valid-usage rule of VkBufferCreateInfo.
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = 256;
  VkBuffer buffer = VK_NULL_HANDLE;
  g.fn.vkCreateBuffer(g.device, &bi, nullptr, &buffer);
  if (buffer) g.fn.vkDestroyBuffer(g.device, buffer, nullptr);
  EXPECT_GE(d->validationMessageCount(), 1u) << "the validation layer did not report an invalid call";
  std::lock_guard<std::mutex> lock(messages.mutex);
  ASSERT_FALSE(messages.list.empty());
  EXPECT_NE(messages.list[0].find("VkBufferCreateInfo"), std::string::npos) << messages.list[0];
  EXPECT_EQ(messages.list.size(), d->validationMessageCount());
}

// Two fills of one buffer with no barrier between them: a write-after-write hazard that only
// synchronization validation sees (the core checks find nothing wrong).
void recordWriteAfterWrite(const vk::Functions& fn, VkDevice device, uint32_t queueFamily) {
  VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bi.size = 256;
  bi.usage = VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  VkBuffer buffer = VK_NULL_HANDLE;
  ASSERT_EQ(fn.vkCreateBuffer(device, &bi, nullptr, &buffer), VK_SUCCESS);
  VkMemoryRequirements req;
  fn.vkGetBufferMemoryRequirements(device, buffer, &req);
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = uint32_t(__builtin_ctz(req.memoryTypeBits));
  VkDeviceMemory memory = VK_NULL_HANDLE;
  ASSERT_EQ(fn.vkAllocateMemory(device, &ai, nullptr, &memory), VK_SUCCESS);
  ASSERT_EQ(fn.vkBindBufferMemory(device, buffer, memory, 0), VK_SUCCESS);
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.queueFamilyIndex = queueFamily;
  VkCommandPool pool = VK_NULL_HANDLE;
  ASSERT_EQ(fn.vkCreateCommandPool(device, &pi, nullptr, &pool), VK_SUCCESS);
  VkCommandBufferAllocateInfo cai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  cai.commandPool = pool;
  cai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  cai.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  ASSERT_EQ(fn.vkAllocateCommandBuffers(device, &cai, &cmd), VK_SUCCESS);
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  ASSERT_EQ(fn.vkBeginCommandBuffer(cmd, &begin), VK_SUCCESS);
  fn.vkCmdFillBuffer(cmd, buffer, 0, 256, 1);
  fn.vkCmdFillBuffer(cmd, buffer, 0, 256, 2);
  fn.vkEndCommandBuffer(cmd);
  fn.vkDestroyCommandPool(device, pool, nullptr);
  fn.vkDestroyBuffer(device, buffer, nullptr);
  fn.vkFreeMemory(device, memory, nullptr);
}

bool onlyWriteAfterWrite(const std::vector<std::string>& list) {
  bool any = false;
  for (const std::string& m : list) {
    if (m.find("SYNC-HAZARD-WRITE-AFTER-WRITE") == std::string::npos) {
      ADD_FAILURE() << "unexpected validation message: " << m;
      return false;
    }
    any = true;
  }
  return any;
}

// Every test runs under synchronization validation: a standalone device with validation has it
// (what tsr_standalone_desc.validation promises), and so does the tests' host device by default.
TEST(DeviceTest, ValidationIncludesSynchronizationValidation) {
  {
    Messages messages;
    auto d = runtime::Device::createStandalone(messages.options());
    const vk::Gpu& g = d->gpu();
    recordWriteAfterWrite(g.fn, g.device, g.queueFamily);
    std::lock_guard<std::mutex> lock(messages.mutex);
    EXPECT_TRUE(onlyWriteAfterWrite(messages.list)) << "standalone: no SYNC-HAZARD-WRITE-AFTER-WRITE reported";
  }
  HostVulkan host;
  recordWriteAfterWrite(host.fn, host.device, host.queueFamily);
  EXPECT_TRUE(onlyWriteAfterWrite(host.messages())) << "HostVulkan: no SYNC-HAZARD-WRITE-AFTER-WRITE reported";
}

}  // namespace
}  // namespace tessera::test
