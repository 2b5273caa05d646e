// Stress, nothing lost: N threads, each with M generators of one context on the host's device,
// run about a thousand requests in all (TESSERA_STRESS_REQUESTS sets the number), mixing whole
// recording into the host's command buffers, slices submitted one by one, tessera's own submit,
// cancels of jobs never submitted and malformed requests, under the validation layer.
//  - every completed texture equals, byte for byte, the same request's single-threaded result;
//  - every refusal has the expected code and a message naming its cause;
//  - nothing leaks: every Vulkan object tessera created (counted through the vkGetDeviceProcAddr
//    it was given) is destroyed, and the heap in use returns to where it was (glibc's mallinfo2,
//    or ASan's allocator under tools/sanitize.sh; the measure is checked to see a generator that
//    is deliberately kept).
#include <malloc.h>

#include <chrono>
#include <random>
#include <thread>

#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

constexpr uint32_t kThreads = 4, kGeneratorsPerThread = 2, kMaxBatch = 4;

#ifdef __SANITIZE_ADDRESS__
// AddressSanitizer replaces malloc, so glibc's statistics see nothing (tools/sanitize.sh); its own
// allocator counts the bytes in use (declared here: GCC installs no sanitizer/allocator_interface.h).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
uint64_t heapInUse() { return __sanitizer_get_current_allocated_bytes(); }
#else
uint64_t heapInUse() { return mallinfo2().uordblks; }
#endif

// The host's queue is one VkQueue shared by every thread: the host serialises its own submits
// and tessera's (tsr_generator_submit) with one lock, as Vulkan requires.
struct SharedQueue {
  HostVulkan& host;
  VkQueue queue = VK_NULL_HANDLE;
  std::mutex mutex;
  explicit SharedQueue(HostVulkan& h) : host(h) { h.fn.vkGetDeviceQueue(h.device, h.queueFamily, 0, &queue); }
  VkResult submit(VkCommandBuffer cmd, VkFence fence) {
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    std::lock_guard lock(mutex);
    return host.fn.vkQueueSubmit(queue, 1, &si, fence);
  }
};

// One thread's command buffer and fence, made with the host's own functions.
struct Frame {
  HostVulkan& host;
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VkFence fence = VK_NULL_HANDLE;
  explicit Frame(HostVulkan& h) : host(h) {
    VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = h.queueFamily;
    h.fn.vkCreateCommandPool(h.device, &pi, nullptr, &pool);
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    h.fn.vkAllocateCommandBuffers(h.device, &ai, &cmd);
    VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    h.fn.vkCreateFence(h.device, &fi, nullptr, &fence);
  }
  ~Frame() {
    host.fn.vkDestroyFence(host.device, fence, nullptr);
    host.fn.vkDestroyCommandPool(host.device, pool, nullptr);
  }
  void begin() {
    host.fn.vkResetCommandBuffer(cmd, 0);
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    host.fn.vkBeginCommandBuffer(cmd, &bi);
  }
  bool submitAndWait(SharedQueue& q) {
    host.fn.vkEndCommandBuffer(cmd);
    host.fn.vkResetFences(host.device, 1, &fence);
    if (q.submit(cmd, fence) != VK_SUCCESS) return false;
    return host.fn.vkWaitForFences(host.device, 1, &fence, VK_TRUE, UINT64_MAX) == VK_SUCCESS;
  }
};

// The requests the jobs draw from, with their single-threaded results.
struct Pool {
  std::vector<tsr_request> requests;
  std::vector<std::vector<uint8_t>> want;
};

Pool makePool(tsr_generator g, uint64_t seed) {
  Pool p;
  std::mt19937_64 rng(seed);
  const uint32_t sizes[] = {8, 12, 16};
  for (int i = 0; i < 12; ++i) {
    const uint32_t s = sizes[i % 3];
    tsr_request r = request(s, s, rng() >> 1, int32_t(rng() % 10), 1 + uint32_t(i % 2), TSR_SAMPLER_CONSISTENCY);
    if (i % 4 == 3) r.tiling = TSR_TILING_PLAIN;
    p.requests.push_back(r);
    p.want.push_back(generateOne(g, r));  // alone, on one thread: the reference
  }
  return p;
}

struct Malformed {
  const char* what;
  std::function<void(tsr_request&)> change;
  tsr_result code;
  std::vector<std::string> needles;
};
const std::vector<Malformed>& malformedCases() {
  static const std::vector<Malformed> cases = {
      {"size not a multiple", [](tsr_request& r) { r.width = 14; }, TSR_ERROR_INVALID_ARGUMENT, {"14x", "multiple"}},
      {"too large", [](tsr_request& r) { r.width = r.height = 64; }, TSR_ERROR_OUT_OF_ARENA, {"64x64", "max_width"}},
      {"class", [](tsr_request& r) { r.class_index = 99; }, TSR_ERROR_INVALID_ARGUMENT, {"class_index 99"}},
      {"sampler", [](tsr_request& r) { storeEnum(r.sampler, -3); }, TSR_ERROR_INVALID_ARGUMENT, {"sampler -3"}},
      {"no pixels", [](tsr_request& r) { r.output.pixels = nullptr; }, TSR_ERROR_INVALID_ARGUMENT, {"output.pixels"}},
      {"steps", [](tsr_request& r) { r.steps = 5000; }, TSR_ERROR_INVALID_ARGUMENT, {"steps 5000"}},
  };
  return cases;
}

struct Tally {
  uint64_t completed = 0, requests = 0, cancelled = 0, refused = 0, whole = 0, sliced = 0, own = 0;
  std::vector<std::string> failures;
  void fail(const std::string& f) {
    if (failures.size() < 20) failures.push_back(f);
  }
};

// One worker thread: its generators, its command buffer, `jobs` random jobs.
void work(uint32_t id, tsr_context ctx, tsr_model model, SharedQueue& queue, const Pool& pool, uint32_t jobs,
          uint64_t seed, Tally& t) {
  std::mt19937_64 rng(seed);
  std::vector<GeneratorPtr> gens;
  for (uint32_t k = 0; k < kGeneratorsPerThread; ++k) {
    tsr_generator_desc d;
    tsr_generator_desc_defaults(&d);
    d.max_width = d.max_height = 16;
    d.max_batch = kMaxBatch;
    tsr_generator g = nullptr;
    const tsr_result r = tsr_generator_create(ctx, model, &d, &g);
    if (r != TSR_SUCCESS) return t.fail("thread " + std::to_string(id) + " create: " + describe(r));
    gens.emplace_back(g, &tsr_generator_destroy);
  }
  Frame frame(queue.host);
  for (uint32_t j = 0; j < jobs; ++j) {
    tsr_generator g = gens[rng() % gens.size()].get();
    const std::string where = "thread " + std::to_string(id) + " job " + std::to_string(j) + ": ";
    const uint32_t n = 1 + uint32_t(rng() % kMaxBatch);
    std::vector<std::size_t> picks(n);
    std::vector<tsr_request> requests;
    for (std::size_t& p : picks) {
      p = rng() % pool.requests.size();
      requests.push_back(pool.requests[p]);
    }
    Job job(requests);
    const uint32_t mode = uint32_t(rng() % 8);
    if (mode == 7) {  // a malformed request somewhere in the job
      const Malformed& m = malformedCases()[rng() % malformedCases().size()];
      const uint32_t bad = uint32_t(rng() % n);
      m.change(job.requests[bad]);
      const Outcome o = outcome(tsr_generator_begin(g, job.requests.data(), n));
      std::vector<std::string> needles(m.needles);
      needles.push_back("request " + std::to_string(bad));
      bool named = o.result == m.code;
      for (const std::string& s : needles) named = named && o.message.find(s) != std::string::npos;
      if (!named) t.fail(where + m.what + ": got " + tsr_result_name(o.result) + ": " + o.message);
      ++t.refused;
      continue;
    }
    tsr_result r = tsr_generator_begin(g, job.requests.data(), n);
    if (r != TSR_SUCCESS) {
      t.fail(where + "begin: " + describe(r));
      continue;
    }
    t.requests += n;
    bool ran = true;
    switch (mode) {
      case 0:
      case 1:  // whole, into the host's command buffer
        frame.begin();
        r = tsr_generator_record(g, frame.cmd);
        if (r == TSR_SUCCESS && !frame.submitAndWait(queue)) t.fail(where + "host submit failed");
        if (r == TSR_SUCCESS) r = tsr_generator_complete(g);
        ++t.whole;
        break;
      case 2:
      case 3: {  // slices, each submitted and waited for before the next is recorded
        VkBool32 done = VK_FALSE;
        const double budget = 5.0 + double(rng() % 200);
        while (r == TSR_SUCCESS && !done) {
          frame.begin();
          r = tsr_generator_record_slice(g, frame.cmd, budget, &done);
          if (r == TSR_SUCCESS && !frame.submitAndWait(queue)) t.fail(where + "host submit failed");
        }
        if (r == TSR_SUCCESS) r = tsr_generator_complete(g);
        ++t.sliced;
        break;
      }
      case 4:
      case 5: {  // tessera's own submit (under the host's queue lock), waited for outside it
        {
          std::lock_guard lock(queue.mutex);
          r = tsr_generator_submit(g);
        }
        if (r == TSR_SUCCESS) r = tsr_generator_wait(g, UINT64_MAX);
        ++t.own;
        break;
      }
      default: {  // cancelled: begun only, or recorded whole into a command buffer never submitted
        if (rng() % 2) {
          frame.begin();
          r = tsr_generator_record(g, frame.cmd);
          tsr_generator_record(g, frame.cmd);  // refused (already recorded): changes nothing
          queue.host.fn.vkEndCommandBuffer(frame.cmd);
        }
        if (r == TSR_SUCCESS) r = tsr_generator_cancel(g);
        ran = false;
        ++t.cancelled;
      }
    }
    if (r != TSR_SUCCESS) {
      t.fail(where + "mode " + std::to_string(mode) + ": " + describe(r));
      continue;
    }
    for (uint32_t i = 0; i < n; ++i) {
      const std::vector<uint8_t>& want = pool.want[picks[i]];
      if (!ran) {
        if (job.pixels[i][3] != poisonByte(VK_FORMAT_R8G8B8A8_SRGB)) t.fail(where + "a cancelled job wrote its output");
      } else if (job.pixels[i] != want) {
        t.fail(where + "request " + std::to_string(i) + " (pool " + std::to_string(picks[i]) + ", mode " +
               std::to_string(mode) + ", batch " + std::to_string(n) + "): " + firstDifference(job.pixels[i], want));
      } else {
        ++t.completed;
      }
    }
  }
}

TEST(ApiStressTest, ThreadsTimesGeneratorsLoseNothing) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("test seed " + std::to_string(seed) + " (TESSERA_TEST_SEED reproduces it)");
  const char* env = std::getenv("TESSERA_STRESS_REQUESTS");
  const uint32_t target = env ? uint32_t(std::strtoul(env, nullptr, 10)) : 1000;
  HostVulkan host;
  counting::gRealGetDeviceProcAddr = host.fn.vkGetDeviceProcAddr;
  SharedQueue queue(host);
  ModelPtr model = loadDefaultModel();

  // A first round (context, generators, references) warms the caches of the loader, lavapipe and
  // the validation layer, so the heap baseline below is what a second round must return to.
  Pool pool;
  {
    ContextPtr ctx = hostContext(host, &counting::getDeviceProcAddr);
    GeneratorPtr g = makeGenerator(ctx.get(), model.get(), GeneratorSpec{16, 16, kMaxBatch});
    pool = makePool(g.get(), seed);
    Tally warm;
    work(99, ctx.get(), model.get(), queue, pool, 8, seed + 99, warm);
    for (const std::string& f : warm.failures) ADD_FAILURE() << "warm-up: " << f;
  }
  const counting::Counts made0 = counting::made();
  const uint64_t heap0 = heapInUse();

  const auto start = std::chrono::steady_clock::now();
  std::vector<Tally> tallies(kThreads);
  {
    ContextPtr ctx = hostContext(host, &counting::getDeviceProcAddr);
    // 2.5 requests per job on average (1 to kMaxBatch).
    const uint32_t jobsPerThread = std::max<uint32_t>(1, uint32_t(target / (2.5 * kThreads)));
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i < kThreads; ++i)
      threads.emplace_back(work, i, ctx.get(), model.get(), std::ref(queue), std::cref(pool), jobsPerThread,
                           seed + i, std::ref(tallies[i]));
    for (std::thread& th : threads) th.join();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Tally all;
  for (const Tally& t : tallies) {
    all.completed += t.completed, all.requests += t.requests, all.cancelled += t.cancelled;
    all.refused += t.refused, all.whole += t.whole, all.sliced += t.sliced, all.own += t.own;
    for (const std::string& f : t.failures) ADD_FAILURE() << f;
  }
  std::printf("stress: %llu requests (%llu completed byte-equal), jobs: %llu whole, %llu sliced, %llu own submit, "
              "%llu cancelled, %llu refused; %.1f s\n",
              (unsigned long long)all.requests, (unsigned long long)all.completed, (unsigned long long)all.whole,
              (unsigned long long)all.sliced, (unsigned long long)all.own, (unsigned long long)all.cancelled,
              (unsigned long long)all.refused, seconds);
  EXPECT_GE(all.requests + all.refused, target * 3 / 4) << "the stress ran far fewer requests than asked";
  EXPECT_GT(all.whole * all.sliced * all.own * all.cancelled * all.refused, 0u) << "every kind of job ran";

  // Every object tessera made in that round was destroyed.
  const counting::Counts made1 = counting::made();
  auto delta = [&](counting::Counted c) { return made1[c] - made0[c]; };
  const std::pair<counting::Counted, counting::Counted> pairs[] = {
      {counting::AllocateMemory, counting::FreeMemory},
      {counting::CreateBuffer, counting::DestroyBuffer},
      {counting::CreateCommandPool, counting::DestroyCommandPool},
      {counting::CreateFence, counting::DestroyFence},
      {counting::CreateDescriptorPool, counting::DestroyDescriptorPool},
      {counting::CreateShaderModule, counting::DestroyShaderModule},
      {counting::CreateComputePipelines, counting::DestroyPipeline},
      {counting::CreatePipelineLayout, counting::DestroyPipelineLayout},
      {counting::CreateDescriptorSetLayout, counting::DestroyDescriptorSetLayout},
  };
  for (const auto& [create, destroy] : pairs) {
    EXPECT_EQ(delta(create), delta(destroy)) << counting::kNames[create] << " vs " << counting::kNames[destroy];
    EXPECT_GT(delta(create), 0u) << counting::kNames[create] << ": the counter saw nothing";
  }

  // The heap is back where it was; and the measure sees a generator kept alive (so it can fail).
  const uint64_t heap1 = heapInUse();
  const int64_t grown = int64_t(heap1) - int64_t(heap0);
  std::printf("stress: heap in use %+lld bytes over the round\n", (long long)grown);
  ContextPtr ctx = hostContext(host, &counting::getDeviceProcAddr);
  GeneratorPtr kept = makeGenerator(ctx.get(), model.get(), GeneratorSpec{16, 16, kMaxBatch});
  const int64_t oneGenerator = int64_t(heapInUse()) - int64_t(heap1);
  std::printf("stress: one live context and generator hold %lld heap bytes\n", (long long)oneGenerator);
  EXPECT_LT(grown, oneGenerator / 4) << "heap grew by " << grown << " bytes over a round that destroyed everything";
  kept.reset();
  ctx.reset();
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation: " << m;
}

}  // namespace
}  // namespace tessera::test::api
