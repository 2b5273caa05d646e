#pragma once
// Shared pieces of the public API's end-to-end tests (tests/api/): the default model's path,
// contexts whose validation messages fail the test, requests and their host-memory outputs,
// image comparisons, a host's own command buffers, buffers and images, and a counting
// vkGetDeviceProcAddr that proves what tessera creates on a host's device.
// Everything goes through the C ABI (tessera.h) as a host would use it.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "counting_vulkan.hpp"
#include "host_vulkan.hpp"
#include "op_harness.hpp"
#include "tessera/tessera.h"

#ifndef TESSERA_SOURCE_MODELS_DIR
#error "tests/api need TESSERA_SOURCE_MODELS_DIR (set in tests/CMakeLists.txt)"
#endif

namespace tessera::test::api {

// A package committed in models/.
inline std::string modelPath(const std::string& file) { return std::string(TESSERA_SOURCE_MODELS_DIR) + "/" + file; }
inline std::string defaultModelPath() { return modelPath("default.tsr"); }

inline std::vector<std::byte> readFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// ---- results ----------------------------------------------------------------------------------

// A call's result with the thread's message, taken at once (the message lives until the next call).
struct Outcome {
  tsr_result result;
  std::string message;
};
inline Outcome outcome(tsr_result r) { return {r, tsr_last_error()}; }

inline std::string describe(tsr_result r) {
  return std::string(tsr_result_name(r)) + ": " + tsr_last_error();
}

#define TSR_EXPECT_OK(call)                                                                      \
  do {                                                                                           \
    const tsr_result tsr_r_ = (call);                                                            \
    EXPECT_EQ(tsr_r_, TSR_SUCCESS) << #call << " -> " << ::tessera::test::api::describe(tsr_r_); \
  } while (0)
#define TSR_ASSERT_OK(call)                                                                      \
  do {                                                                                           \
    const tsr_result tsr_r_ = (call);                                                            \
    ASSERT_EQ(tsr_r_, TSR_SUCCESS) << #call << " -> " << ::tessera::test::api::describe(tsr_r_); \
  } while (0)

// Expects `got` to be `want` with a message naming the function and containing every needle.
inline void expectFailure(const Outcome& got, tsr_result want, const std::string& function,
                          const std::vector<std::string>& needles) {
  EXPECT_EQ(got.result, want) << "got " << tsr_result_name(got.result) << ": " << got.message;
  EXPECT_EQ(got.message.rfind(function + ": ", 0), 0u)
      << "the message should start with the function: " << got.message;
  for (const std::string& n : needles)
    EXPECT_NE(got.message.find(n), std::string::npos) << "'" << n << "' missing from: " << got.message;
}

// Stores any 32-bit integer in an enum field, as a C host can. (A C++ cast of a value outside the
// enumerators' range to the enum, or a load of one as the enum, would be undefined behaviour.)
template <class E>
void storeEnum(E& field, int32_t value) {
  static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int32_t));
  std::memcpy(&field, &value, sizeof value);
}

// ---- contexts, models, generators --------------------------------------------------------------

// Validation messages a context reports through its callback (from any thread).
class MessageLog {
 public:
  static void callback(const char* message, void* user) {
    auto* self = static_cast<MessageLog*>(user);
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->messages_.emplace_back(message ? message : "(null)");
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_.size();
  }
  // Fails the current test for every message after the first `from`.
  void expectNoneSince(std::size_t from) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = from; i < messages_.size(); ++i)
      ADD_FAILURE() << "Vulkan validation: " << messages_[i];
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

using ContextPtr = std::unique_ptr<tsr_context_t, void (*)(tsr_context)>;
using ModelPtr = std::unique_ptr<tsr_model_t, void (*)(tsr_model)>;
using GeneratorPtr = std::unique_ptr<tsr_generator_t, void (*)(tsr_generator)>;

inline GeneratorPtr noGenerator() { return GeneratorPtr(nullptr, &tsr_generator_destroy); }

// A standalone context with the validation layer on, reporting into `log`.
inline ContextPtr standaloneContext(MessageLog& log, bool allowFp16 = true, const char* device = nullptr) {
  tsr_standalone_desc d;
  tsr_standalone_desc_defaults(&d);
  d.validation = VK_TRUE;
  d.on_validation_message = &MessageLog::callback;
  d.user = &log;
  d.allow_fp16 = allowFp16 ? VK_TRUE : VK_FALSE;
  d.device = device;
  tsr_context c = nullptr;
  const tsr_result r = tsr_context_create_standalone(&d, &c);
  if (r != TSR_SUCCESS) throw std::runtime_error("standalone context: " + describe(r));
  return ContextPtr(c, &tsr_context_destroy);
}

// What a host hands tessera for its own device (`gdpa` may be a wrapper of the host's).
inline tsr_host_device_desc hostDeviceDesc(const HostVulkan& host, PFN_vkGetDeviceProcAddr gdpa = nullptr) {
  tsr_host_device_desc d;
  tsr_host_device_desc_defaults(&d);
  d.instance = host.instance;
  d.physical_device = host.physicalDevice;
  d.device = host.device;
  d.queue_family = host.queueFamily;
  d.queue_index = 0;
  d.get_instance_proc_addr = host.fn.vkGetInstanceProcAddr;
  d.get_device_proc_addr = gdpa ? gdpa : host.fn.vkGetDeviceProcAddr;
  d.storage_buffer_16bit_access = host.storage16 ? VK_TRUE : VK_FALSE;
  d.shader_float16 = VK_FALSE;  // HostVulkan does not enable it
  return d;
}

inline ContextPtr hostContext(const HostVulkan& host, PFN_vkGetDeviceProcAddr gdpa = nullptr) {
  const tsr_host_device_desc d = hostDeviceDesc(host, gdpa);
  tsr_context c = nullptr;
  const tsr_result r = tsr_context_create_from_device(&d, &c);
  if (r != TSR_SUCCESS) throw std::runtime_error("host-device context: " + describe(r));
  return ContextPtr(c, &tsr_context_destroy);
}

inline ModelPtr loadModel(const std::string& path) {
  tsr_model m = nullptr;
  const tsr_result r = tsr_model_load_file(path.c_str(), &m);
  if (r != TSR_SUCCESS) throw std::runtime_error(path + ": " + describe(r));
  return ModelPtr(m, &tsr_model_destroy);
}
inline ModelPtr loadDefaultModel() { return loadModel(defaultModelPath()); }

struct GeneratorSpec {
  uint32_t maxWidth = 32, maxHeight = 32, maxBatch = 1;
  std::vector<tsr_shape> prepared;  // empty: the library's default
  uint32_t flags = 0;
  int32_t precision = TSR_PRECISION_AUTO;  // an integer: tests store values outside the enum
  const tsr_memory_block* deviceMemory = nullptr;
  const tsr_memory_block* stagingMemory = nullptr;

  tsr_generator_desc desc() const {
    tsr_generator_desc d;
    tsr_generator_desc_defaults(&d);
    d.max_width = maxWidth;
    d.max_height = maxHeight;
    d.max_batch = maxBatch;
    d.flags = flags;
    storeEnum(d.precision, precision);
    d.prepared_shapes = prepared.empty() ? nullptr : prepared.data();
    d.prepared_shape_count = uint32_t(prepared.size());
    d.device_memory = deviceMemory;
    d.staging_memory = stagingMemory;
    return d;
  }
};

inline GeneratorPtr makeGenerator(tsr_context c, tsr_model m, const GeneratorSpec& spec = {}) {
  const tsr_generator_desc d = spec.desc();
  tsr_generator g = nullptr;
  const tsr_result r = tsr_generator_create(c, m, &d, &g);
  if (r != TSR_SUCCESS) throw std::runtime_error("generator: " + describe(r));
  return GeneratorPtr(g, &tsr_generator_destroy);
}

// One standalone context (validation on) and the default model for a test suite; a validation
// message during a test fails it.
class StandaloneApiTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    log_ = std::make_unique<MessageLog>();
    context_ = std::make_unique<ContextPtr>(standaloneContext(*log_));
    model_ = std::make_unique<ModelPtr>(loadDefaultModel());
  }
  static void TearDownTestSuite() {
    model_.reset();
    context_.reset();
    log_.reset();
  }

 protected:
  void SetUp() override { from_ = log_->size(); }
  void TearDown() override { log_->expectNoneSince(from_); }
  static tsr_context context() { return context_->get(); }
  static tsr_model model() { return model_->get(); }

 private:
  static inline std::unique_ptr<MessageLog> log_;
  static inline std::unique_ptr<ContextPtr> context_;
  static inline std::unique_ptr<ModelPtr> model_;
  std::size_t from_ = 0;
};

// ---- requests and host-memory outputs ------------------------------------------------------------

inline tsr_request request(uint32_t w, uint32_t h, uint64_t seed, int32_t classIndex = 0, uint32_t steps = 1,
                           tsr_sampler sampler = TSR_SAMPLER_EULER) {
  tsr_request r;
  tsr_request_defaults(&r);
  r.width = w;
  r.height = h;
  r.seed = seed;
  r.class_index = classIndex;
  r.steps = steps;
  r.sampler = sampler;
  return r;
}

inline std::size_t pixelSize(VkFormat f) { return f == VK_FORMAT_R16G16B16A16_SFLOAT ? 8 : 4; }

// Bytes that no complete output can hold: RGBA8 alpha is always 255, and 0x7E7E is a NaN half.
inline uint8_t poisonByte(VkFormat f) { return f == VK_FORMAT_R16G16B16A16_SFLOAT ? 0x7E : 0x5A; }

// Host-memory outputs for a job: each request's pixels point at fresh, poisoned, tight storage.
struct Job {
  std::vector<tsr_request> requests;
  std::vector<std::vector<uint8_t>> pixels;

  Job() = default;
  explicit Job(std::vector<tsr_request> r) : requests(std::move(r)) { bind(); }
  void bind() {
    pixels.resize(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      tsr_request& r = requests[i];
      const std::size_t bytes = std::size_t(r.width) * r.height * pixelSize(r.output.format);
      pixels[i].assign(bytes, poisonByte(r.output.format));
      r.output.kind = TSR_OUTPUT_HOST_MEMORY;
      r.output.pixels = pixels[i].data();
      r.output.row_pitch = 0;
    }
  }
  uint32_t count() const { return uint32_t(requests.size()); }
};

// Runs a job with tsr_generate; fails the test (returning empty outputs) on an error.
inline std::vector<std::vector<uint8_t>> generate(tsr_generator g, std::vector<tsr_request> requests,
                                                  tsr_progress_callback cb = nullptr, void* user = nullptr) {
  Job job(std::move(requests));
  const tsr_result r = tsr_generate(g, job.requests.data(), job.count(), cb, user);
  EXPECT_EQ(r, TSR_SUCCESS) << describe(r);
  if (r != TSR_SUCCESS) return std::vector<std::vector<uint8_t>>(job.count());
  return job.pixels;
}
inline std::vector<uint8_t> generateOne(tsr_generator g, const tsr_request& r) { return generate(g, {r})[0]; }

// ---- pixels ------------------------------------------------------------------------------------

// Every alpha byte of an RGBA8 output is 255 (so no pixel kept its poison).
inline ::testing::AssertionResult opaqueRgba8(const std::vector<uint8_t>& px) {
  if (px.empty() || px.size() % 4)
    return ::testing::AssertionFailure() << "no RGBA8 pixels (" << px.size() << " bytes)";
  for (std::size_t i = 3; i < px.size(); i += 4)
    if (px[i] != 255)
      return ::testing::AssertionFailure() << "pixel " << i / 4 << " has alpha " << int(px[i]);
  return ::testing::AssertionSuccess();
}

inline double meanAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 1e9;
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return s / double(a.size());
}
inline int maxAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 1 << 30;
  int m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}
// The first byte where two outputs differ, for a readable failure.
inline std::string firstDifference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i])
      return "byte " + std::to_string(i) + ": " + std::to_string(a[i]) + " vs " + std::to_string(b[i]) +
             " (max difference " + std::to_string(maxAbsDiff(a, b)) + ")";
  return "none";
}

inline float halfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  float v;
  if (exp == 0)
    v = std::ldexp(float(man), -24);
  else if (exp == 31)
    v = man ? NAN : INFINITY;
  else
    v = std::ldexp(float(man | 0x400), int(exp) - 25);
  return sign ? -v : v;
}
inline std::vector<float> decodeRgba16f(const std::vector<uint8_t>& px) {
  std::vector<float> v(px.size() / 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, px.data() + 2 * i, 2);
    v[i] = halfToFloat(h);
  }
  return v;
}

// IEC 61966-2-1, in double.
inline double srgbToLinear(double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); }
inline double linearToSrgb(double l) {
  return l <= 0.0031308 ? l * 12.92 : 1.055 * std::pow(l, 1.0 / 2.4) - 0.055;
}

// ---- the host's own Vulkan objects ---------------------------------------------------------------

// Command buffers the host allocates, records, submits to its queue and waits for on its own fence.
class HostSubmitter {
 public:
  explicit HostSubmitter(HostVulkan& host) : host_(host) {
    host.fn.vkGetDeviceQueue(host.device, host.queueFamily, 0, &queue_);
    VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = host.queueFamily;
    check(host.fn.vkCreateCommandPool(host.device, &pi, nullptr, &pool_), "vkCreateCommandPool");
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    check(host.fn.vkCreateFence(host.device, &fi, nullptr, &fence_), "vkCreateFence");
  }
  ~HostSubmitter() {
    host_.fn.vkDestroyFence(host_.device, fence_, nullptr);
    host_.fn.vkDestroyCommandPool(host_.device, pool_, nullptr);
  }
  HostSubmitter(const HostSubmitter&) = delete;
  HostSubmitter& operator=(const HostSubmitter&) = delete;

  // A fresh command buffer, begun.
  VkCommandBuffer begin() {
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    check(host_.fn.vkAllocateCommandBuffers(host_.device, &ai, &cmd), "vkAllocateCommandBuffers");
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    check(host_.fn.vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
    return cmd;
  }
  // Ends, submits, waits for and frees `cmd`.
  void submitAndWait(VkCommandBuffer cmd) {
    check(host_.fn.vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
    check(host_.fn.vkResetFences(host_.device, 1, &fence_), "vkResetFences");
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    check(host_.fn.vkQueueSubmit(queue_, 1, &si, fence_), "vkQueueSubmit");
    check(host_.fn.vkWaitForFences(host_.device, 1, &fence_, VK_TRUE, UINT64_MAX), "vkWaitForFences");
    host_.fn.vkFreeCommandBuffers(host_.device, pool_, 1, &cmd);
  }
  // Drops a recorded command buffer that will never be submitted.
  void discard(VkCommandBuffer cmd) {
    host_.fn.vkEndCommandBuffer(cmd);
    host_.fn.vkFreeCommandBuffers(host_.device, pool_, 1, &cmd);
  }
  void run(const std::function<void(VkCommandBuffer)>& record) {
    VkCommandBuffer cmd = begin();
    record(cmd);
    submitAndWait(cmd);
  }
  static void check(VkResult r, const char* what) {
    if (r != VK_SUCCESS)
      throw std::runtime_error(std::string("host: ") + what + " failed: " + vk::resultName(r));
  }

 private:
  HostVulkan& host_;
  VkQueue queue_ = VK_NULL_HANDLE;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

inline int hostMemoryType(const HostVulkan& host, uint32_t bits, VkMemoryPropertyFlags need) {
  for (uint32_t i = 0; i < host.memory.memoryTypeCount; ++i)
    if ((bits & (1u << i)) && (host.memory.memoryTypes[i].propertyFlags & need) == need) return int(i);
  return -1;
}

inline VkDeviceMemory hostAllocate(HostVulkan& host, VkDeviceSize bytes, uint32_t type) {
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = bytes;
  ai.memoryTypeIndex = type;
  VkDeviceMemory m = VK_NULL_HANDLE;
  HostSubmitter::check(host.fn.vkAllocateMemory(host.device, &ai, nullptr, &m), "vkAllocateMemory");
  return m;
}

// A host-visible, mapped buffer of the host's (coherent memory: no flushes needed).
class HostBuffer {
 public:
  HostBuffer(HostVulkan& host, VkDeviceSize bytes, VkBufferUsageFlags usage) : host_(host), size_(bytes) {
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = bytes;
    bi.usage = usage;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    HostSubmitter::check(host.fn.vkCreateBuffer(host.device, &bi, nullptr, &buffer), "vkCreateBuffer");
    VkMemoryRequirements req;
    host.fn.vkGetBufferMemoryRequirements(host.device, buffer, &req);
    const int type = hostMemoryType(
        host, req.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    if (type < 0) throw std::runtime_error("host: no coherent host-visible memory for a buffer");
    memory_ = hostAllocate(host, req.size, uint32_t(type));
    HostSubmitter::check(host.fn.vkBindBufferMemory(host.device, buffer, memory_, 0), "vkBindBufferMemory");
    HostSubmitter::check(host.fn.vkMapMemory(host.device, memory_, 0, VK_WHOLE_SIZE, 0, &mapped_),
                         "vkMapMemory");
  }
  ~HostBuffer() {
    host_.fn.vkUnmapMemory(host_.device, memory_);
    host_.fn.vkDestroyBuffer(host_.device, buffer, nullptr);
    host_.fn.vkFreeMemory(host_.device, memory_, nullptr);
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(mapped_); }
  std::vector<uint8_t> bytes(VkDeviceSize offset, VkDeviceSize n) const {
    return std::vector<uint8_t>(data() + offset, data() + offset + n);
  }
  VkDeviceSize size() const { return size_; }
  VkBuffer buffer = VK_NULL_HANDLE;

 private:
  HostVulkan& host_;
  VkDeviceSize size_;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  void* mapped_ = nullptr;
};

inline uint32_t fullMipCount(uint32_t w, uint32_t h) {
  uint32_t n = 1;
  while ((w | h) >> n) ++n;
  return n;
}

// A 2-D optimal-tiling image of the host's, as a game makes a texture.
class HostImage {
  HostVulkan& host_;

 public:
  HostImage(HostVulkan& host, uint32_t w, uint32_t h, VkFormat format, uint32_t levels,
            VkImageUsageFlags usage)
      : host_(host), width(w), height(h), format(format), levels(levels) {
    VkImageCreateInfo ci{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
    ci.imageType = VK_IMAGE_TYPE_2D;
    ci.format = format;
    ci.extent = {w, h, 1};
    ci.mipLevels = levels;
    ci.arrayLayers = 1;
    ci.samples = VK_SAMPLE_COUNT_1_BIT;
    ci.tiling = VK_IMAGE_TILING_OPTIMAL;
    ci.usage = usage;
    ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    ci.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
    HostSubmitter::check(host.fn.vkCreateImage(host.device, &ci, nullptr, &image), "vkCreateImage");
    VkMemoryRequirements req;
    host.fn.vkGetImageMemoryRequirements(host.device, image, &req);
    int type = hostMemoryType(host, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (type < 0) type = hostMemoryType(host, req.memoryTypeBits, 0);
    memory_ = hostAllocate(host, req.size, uint32_t(type));
    HostSubmitter::check(host.fn.vkBindImageMemory(host.device, image, memory_, 0), "vkBindImageMemory");
  }
  ~HostImage() {
    host_.fn.vkDestroyImage(host_.device, image, nullptr);
    host_.fn.vkFreeMemory(host_.device, memory_, nullptr);
  }
  HostImage(const HostImage&) = delete;
  HostImage& operator=(const HostImage&) = delete;

  uint32_t levelWidth(uint32_t l) const { return std::max(width >> l, 1u); }
  uint32_t levelHeight(uint32_t l) const { return std::max(height >> l, 1u); }

  // Copies levels [0, count) to `dst` one after another (tight rows), moving them from `from`
  // (the layout tessera left them in) to TRANSFER_SRC first. Returns each level's offset.
  std::vector<VkDeviceSize> recordReadback(VkCommandBuffer cmd, uint32_t count, VkImageLayout from,
                                           const HostBuffer& dst) const {
    VkImageMemoryBarrier b{VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER};
    b.srcAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    b.oldLayout = from;
    b.newLayout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    b.srcQueueFamilyIndex = b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED;
    b.image = image;
    b.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, count, 0, 1};
    host_.fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0,
                                  0, nullptr, 0, nullptr, 1, &b);
    std::vector<VkDeviceSize> offsets;
    VkDeviceSize at = 0;
    for (uint32_t l = 0; l < count; ++l) {
      VkBufferImageCopy c{};
      c.bufferOffset = at;
      c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, l, 0, 1};
      c.imageExtent = {levelWidth(l), levelHeight(l), 1};
      host_.fn.vkCmdCopyImageToBuffer(cmd, image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, dst.buffer, 1, &c);
      offsets.push_back(at);
      at += VkDeviceSize(levelWidth(l)) * levelHeight(l) * (format == VK_FORMAT_R16G16B16A16_SFLOAT ? 8 : 4);
    }
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    host_.fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb,
                                  0, nullptr, 0, nullptr);
    return offsets;
  }

  VkImage image = VK_NULL_HANDLE;
  uint32_t width, height;
  VkFormat format;
  uint32_t levels;

 private:
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
};

// Counting what tessera creates on a host's device: tests/support/counting_vulkan.hpp.
namespace counting = tessera::test::counting;

}  // namespace tessera::test::api
