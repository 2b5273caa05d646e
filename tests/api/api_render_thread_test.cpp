// A game's threads around one queue: a render thread submits to the host's queue the whole time,
// without any lock shared with tessera, while a loading thread creates a context and generators
// on that device, for a single-network package and for a cascade. tessera must not touch the
// queue behind the host's back (tessera.h: it submits only in tsr_generator_submit /
// tsr_generate), so the weights' upload travels in the first job the host records — here by the
// render thread, into its frames' command buffers, in slices.
// The validation layer runs with its thread-safety checks and synchronization validation on: a
// queue used from two threads at once, or a missing barrier, fails the test; the counting
// vkGetDeviceProcAddr proves tessera made no queue call at all during creation.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

class RenderThread {
 public:
  explicit RenderThread(HostVulkan& host) : host_(host) {
    host.fn.vkGetDeviceQueue(host.device, host.queueFamily, 0, &queue_);
    thread_ = std::thread([this] { run(); });
  }
  ~RenderThread() { stop(); }

  // Hands a begun job to the render thread, which records it in slices over its next frames.
  void record(tsr_generator g) {
    std::lock_guard lock(mutex_);
    job_ = g;
    jobDone_ = false;
  }
  // Waits until the render thread completed the job it was handed; its result.
  tsr_result waitForJob() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return jobDone_; });
    return jobResult_;
  }
  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
  }
  uint64_t frames() const { return frames_; }
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  void run() {
    const auto& fn = host_.fn;
    VkCommandPool pool = VK_NULL_HANDLE;
    VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = host_.queueFamily;
    fn.vkCreateCommandPool(host_.device, &pi, nullptr, &pool);
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    fn.vkAllocateCommandBuffers(host_.device, &ai, &cmd);
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence = VK_NULL_HANDLE;
    fn.vkCreateFence(host_.device, &fi, nullptr, &fence);
    // The frame's own work: a fill of a small buffer of the host's.
    HostBuffer frameBuffer(host_, 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);

    tsr_generator recording = nullptr;
    bool recorded = false;
    while (!stopping_ || recording) {
      {
        std::lock_guard lock(mutex_);
        if (!recording && job_) {
          recording = job_;
          job_ = nullptr;
          recorded = false;
        }
      }
      fn.vkResetCommandBuffer(cmd, 0);
      VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
      bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
      fn.vkBeginCommandBuffer(cmd, &bi);
      fn.vkCmdFillBuffer(cmd, frameBuffer.buffer, 0, 4096, uint32_t(frames_));
      tsr_result r = TSR_SUCCESS;
      if (recording && !recorded) {
        VkBool32 done = VK_FALSE;
        r = tsr_generator_record_slice(recording, cmd, 40.0, &done);
        recorded = done || r != TSR_SUCCESS;
      }
      // The next frame's fill must not race this one's (a write-after-write across submissions).
      VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
      b.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
      b.dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
      fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &b, 0,
                              nullptr, 0, nullptr);
      fn.vkEndCommandBuffer(cmd);
      fn.vkResetFences(host_.device, 1, &fence);
      VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
      si.commandBufferCount = 1;
      si.pCommandBuffers = &cmd;
      const VkResult sr = fn.vkQueueSubmit(queue_, 1, &si, fence);  // no lock: the queue is this thread's
      fn.vkWaitForFences(host_.device, 1, &fence, VK_TRUE, UINT64_MAX);
      ++frames_;
      if (sr != VK_SUCCESS) setError("vkQueueSubmit failed");
      if (recording && recorded) {
        if (r == TSR_SUCCESS) r = tsr_generator_complete(recording);
        if (r != TSR_SUCCESS) setError(describe(r));
        std::lock_guard lock(mutex_);
        jobResult_ = r;
        jobDone_ = true;
        recording = nullptr;
        cv_.notify_all();
      }
    }
    fn.vkDestroyFence(host_.device, fence, nullptr);
    fn.vkDestroyCommandPool(host_.device, pool, nullptr);
  }
  void setError(const std::string& e) {
    std::lock_guard lock(mutex_);
    if (error_.empty()) error_ = e;
  }

  HostVulkan& host_;
  VkQueue queue_ = VK_NULL_HANDLE;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> frames_{0};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  tsr_generator job_ = nullptr;
  bool jobDone_ = false;
  tsr_result jobResult_ = TSR_SUCCESS;
  std::string error_;
};

// One case per kind of package: a single network, and a cascade (base + super-resolution stage,
// whose every stage uploads its weights in the first job too).
struct RenderCase {
  const char* name;
  const char* file;                   // in models/
  std::vector<uint32_t> sizes;        // one generator per max size, created by the loading thread
  uint32_t requestSize;
  tsr_sampler sampler;  // 2 steps of it
};

class ApiRenderThreadTest : public ::testing::TestWithParam<RenderCase> {};

TEST_P(ApiRenderThreadTest, CreationTouchesNoQueueWhileARenderThreadSubmits) {
  const RenderCase& c = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("test seed " + std::to_string(seed) + " (TESSERA_TEST_SEED reproduces it)");
  HostVulkan host(/*validation=*/true, /*syncValidation=*/true);
  counting::gRealGetDeviceProcAddr = host.fn.vkGetDeviceProcAddr;
  ModelPtr model = loadModel(modelPath(c.file));
  const tsr_request r = request(c.requestSize, c.requestSize, seed, 1, 2, c.sampler);

  // The reference: the same request on tessera's own device and queue.
  std::vector<uint8_t> want;
  {
    MessageLog log;
    ContextPtr standalone = standaloneContext(log, host.storage16);
    GeneratorPtr g = makeGenerator(standalone.get(), model.get(), GeneratorSpec{c.requestSize, c.requestSize, 1});
    want = generateOne(g.get(), r);
    log.expectNoneSince(0);
  }

  RenderThread render(host);
  // Let the render thread get going before the loading thread starts.
  while (render.frames() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<GeneratorPtr> generators;
  ContextPtr context = ContextPtr(nullptr, &tsr_context_destroy);
  const counting::Counts before = counting::counts();
  std::thread loading([&] {
    context = hostContext(host, &counting::getDeviceProcAddr);
    for (uint32_t size : c.sizes) generators.push_back(makeGenerator(context.get(), model.get(), {size, size, 1}));
  });
  loading.join();
  const counting::Counts created = counting::counts();
  EXPECT_EQ(created[counting::QueueSubmit] - before[counting::QueueSubmit], 0u)
      << "tsr_context_create_from_device / tsr_generator_create submitted to the host's queue";
  EXPECT_EQ(created[counting::QueueWaitIdle] - before[counting::QueueWaitIdle], 0u);
  EXPECT_GT(render.frames(), 3u);

  // Each generator's first job (which carries its weights up) is recorded by the render thread
  // into its frames; the loading thread only begins it. Every result equals the reference.
  for (std::size_t i = 0; i < generators.size(); ++i) {
    SCOPED_TRACE("generator " + std::to_string(i));
    Job job({r});
    TSR_ASSERT_OK(tsr_generator_begin(generators[i].get(), job.requests.data(), 1));
    render.record(generators[i].get());
    TSR_ASSERT_OK(render.waitForJob());
    EXPECT_EQ(job.pixels[0], want) << firstDifference(job.pixels[0], want);
  }
  // A second job on the same generator: the weights are not copied again, and the result holds.
  {
    Job again({r});
    TSR_ASSERT_OK(tsr_generator_begin(generators[0].get(), again.requests.data(), 1));
    render.record(generators[0].get());
    TSR_ASSERT_OK(render.waitForJob());
    EXPECT_EQ(again.pixels[0], want) << firstDifference(again.pixels[0], want);
  }
  const counting::Counts recorded = counting::counts();
  EXPECT_EQ(recorded[counting::QueueSubmit] - created[counting::QueueSubmit], 0u)
      << "tessera submitted while the host recorded its jobs";
  render.stop();
  EXPECT_EQ(render.error(), "");

  // tessera's own queue use stays in tsr_generate, on a queue the host no longer uses.
  EXPECT_EQ(generateOne(generators[1].get(), r), want);
  EXPECT_EQ(counting::counts()[counting::QueueSubmit] - recorded[counting::QueueSubmit], 1u);
  generators.clear();
  context.reset();
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation: " << m;
}

INSTANTIATE_TEST_SUITE_P(
    Packages, ApiRenderThreadTest,
    ::testing::Values(RenderCase{"single", "default.tsr", {16, 32, 16}, 16, TSR_SAMPLER_CONSISTENCY},
                      // Above its native 64 the cascade runs base and SR stage: 128 out, the base at 32.
                      RenderCase{"cascade", "teacher.tsr", {128, 256, 128}, 128, TSR_SAMPLER_DEFAULT}),
    [](const ::testing::TestParamInfo<RenderCase>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace tessera::test::api
