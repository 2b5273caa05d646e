// tessera inside a game: a context on the host's own device (validation on, every message a
// failure), jobs recorded into the host's command buffers, whole or in slices, which the host
// submits and waits for itself; outputs into host memory, the host's VkImage with its mip chain
// and the host's VkBuffer; the progress a host reads through a job's lifecycle, and the state
// errors (BUSY, out-of-order calls) with cancel.
#include <random>

#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

class ApiRecordTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    host_ = std::make_unique<HostVulkan>(true);
    submitter_ = std::make_unique<HostSubmitter>(*host_);
    hostContext_ = std::make_unique<ContextPtr>(hostContext(*host_));
    standaloneLog_ = std::make_unique<MessageLog>();
    standalone_ = std::make_unique<ContextPtr>(standaloneContext(*standaloneLog_));
    model_ = std::make_unique<ModelPtr>(loadDefaultModel());
    GeneratorSpec spec;
    spec.maxWidth = spec.maxHeight = 32;
    spec.maxBatch = 2;
    spec.prepared = {{16, 16, 1}, {16, 16, 2}, {32, 32, 1}};
    hostGen_ = std::make_unique<GeneratorPtr>(makeGenerator(hostContext_->get(), model_->get(), spec));
    standaloneGen_ = std::make_unique<GeneratorPtr>(makeGenerator(standalone_->get(), model_->get(), spec));
  }
  static void TearDownTestSuite() {
    standaloneGen_.reset();
    hostGen_.reset();
    model_.reset();
    standalone_.reset();
    standaloneLog_.reset();
    hostContext_.reset();
    submitter_.reset();
    host_.reset();
  }

 protected:
  void SetUp() override {
    hostMessages_ = host_->messages().size();
    standaloneMessages_ = standaloneLog_->size();
    seed_ = freshSeed();
    rng_.seed(seed_);
  }
  void TearDown() override {
    // Whatever a test left, the next starts from an idle generator.
    tsr_generator_cancel(gen());
    const auto m = host_->messages();
    for (std::size_t i = hostMessages_; i < m.size(); ++i)
      ADD_FAILURE() << "Vulkan validation (host device): " << m[i];
    standaloneLog_->expectNoneSince(standaloneMessages_);
  }
  static tsr_generator gen() { return hostGen_->get(); }
  static HostVulkan& host() { return *host_; }
  static HostSubmitter& submitter() { return *submitter_; }
  uint64_t seed() { return rng_() >> 1; }

  // begin + record into one command buffer of the host's + submit + wait + complete.
  void recordWhole(tsr_request* requests, uint32_t count) {
    TSR_ASSERT_OK(tsr_generator_begin(gen(), requests, count));
    VkCommandBuffer cmd = submitter().begin();
    TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
    submitter().submitAndWait(cmd);
    TSR_ASSERT_OK(tsr_generator_complete(gen()));
  }
  // The same request through tsr_generate on tessera's own standalone device.
  static std::vector<uint8_t> standaloneBytes(const tsr_request& r) {
    return generateOne(standaloneGen_->get(), r);
  }
  static tsr_progress progress() {
    tsr_progress p;
    tsr_progress_defaults(&p);
    const tsr_result r = tsr_generator_get_progress(gen(), &p);
    EXPECT_EQ(r, TSR_SUCCESS) << describe(r);
    return p;
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;

 private:
  static inline std::unique_ptr<HostVulkan> host_;
  static inline std::unique_ptr<HostSubmitter> submitter_;
  static inline std::unique_ptr<ContextPtr> hostContext_;
  static inline std::unique_ptr<MessageLog> standaloneLog_;
  static inline std::unique_ptr<ContextPtr> standalone_;
  static inline std::unique_ptr<ModelPtr> model_;
  static inline std::unique_ptr<GeneratorPtr> hostGen_;
  static inline std::unique_ptr<GeneratorPtr> standaloneGen_;
  std::size_t hostMessages_ = 0, standaloneMessages_ = 0;
};

#define TRACE_SEED() SCOPED_TRACE("test seed " + std::to_string(seed_) + " (TESSERA_TEST_SEED reproduces it)")

TEST_F(ApiRecordTest, RecordedJobEqualsStandaloneGenerate) {
  TRACE_SEED();
  Job job({request(16, 16, seed(), 3, 2, TSR_SAMPLER_DPMPP_2M),
           request(16, 16, seed(), 6, 2, TSR_SAMPLER_DPMPP_2M)});
  TSR_ASSERT_OK(tsr_generator_begin(gen(), job.requests.data(), job.count()));
  // The host's own work before and after tessera's, in the same command buffer.
  HostBuffer mine(host(), 1024, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  VkCommandBuffer cmd = submitter().begin();
  host().fn.vkCmdFillBuffer(cmd, mine.buffer, 0, 512, 0x11111111u);
  TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
  host().fn.vkCmdFillBuffer(cmd, mine.buffer, 512, 512, 0x22222222u);
  submitter().submitAndWait(cmd);
  // Host-memory outputs arrive at complete, not before.
  EXPECT_EQ(job.pixels[0][3], poisonByte(VK_FORMAT_R8G8B8A8_SRGB))
      << "pixels copied before tsr_generator_complete";
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  EXPECT_EQ(mine.data()[0], 0x11);
  EXPECT_EQ(mine.data()[1023], 0x22);
  for (uint32_t i = 0; i < job.count(); ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_TRUE(opaqueRgba8(job.pixels[i]));
    const std::vector<uint8_t> reference = standaloneBytes(job.requests[i]);
    EXPECT_EQ(job.pixels[i], reference) << "recorded on the host's device vs tsr_generate standalone: "
                                        << firstDifference(job.pixels[i], reference);
    // tsr_generate on the host's device runs on the named queue and agrees too.
    const std::vector<uint8_t> ownQueue = generateOne(gen(), job.requests[i]);
    EXPECT_EQ(ownQueue, reference) << firstDifference(ownQueue, reference);
  }
}

// The requests are copied at begin: the host's request array may be gone before recording;
// only the outputs it names must stay.
TEST_F(ApiRecordTest, RequestsNeedNotOutliveBegin) {
  TRACE_SEED();
  const tsr_request r = request(16, 16, seed(), 8, 2);
  const std::vector<uint8_t> want = standaloneBytes(r);
  std::vector<uint8_t> px(16 * 16 * 4, 0x5A);
  {
    auto requests = std::make_unique<tsr_request[]>(1);
    requests[0] = r;
    requests[0].output.pixels = px.data();
    TSR_ASSERT_OK(tsr_generator_begin(gen(), requests.get(), 1));
    requests[0] = request(32, 32, 0, 0, 9);  // scribbled over, then freed
  }
  VkCommandBuffer cmd = submitter().begin();
  TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
  submitter().submitAndWait(cmd);
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  EXPECT_EQ(px, want) << firstDifference(px, want);
}

TEST_F(ApiRecordTest, SlicesInSeparateSubmissionsGiveTheSameBytes) {
  TRACE_SEED();
  const tsr_request r = request(16, 16, seed(), 5, 3, TSR_SAMPLER_HEUN);  // 5 evaluations
  Job whole({r});
  recordWhole(whole.requests.data(), 1);
  ASSERT_TRUE(opaqueRgba8(whole.pixels[0]));

  HostBuffer hostWork(host(), 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  // A tiny budget records one dispatch per slice, so its largest slice is the largest dispatch;
  // a budget above that is never exceeded.
  double largestDispatch = 0;
  for (double budget : {1e-9, 20.0}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    Job sliced({r});
    TSR_ASSERT_OK(tsr_generator_begin(gen(), sliced.requests.data(), 1));
    const uint32_t total = progress().evaluations_total;
    EXPECT_EQ(total, 5u);
    uint32_t slices = 0, lastRecorded = 0;
    double lastWork = 0, maxSlice = 0;
    VkBool32 done = VK_FALSE;
    while (!done) {
      ASSERT_LT(slices, 100000u) << "record_slice never reports done";
      VkCommandBuffer cmd = submitter().begin();
      // Between slices the host may record anything of its own.
      host().fn.vkCmdFillBuffer(cmd, hostWork.buffer, 0, 4096, slices);
      TSR_ASSERT_OK(tsr_generator_record_slice(gen(), cmd, budget, &done));
      submitter().submitAndWait(cmd);
      ++slices;
      const tsr_progress p = progress();
      EXPECT_GE(p.evaluations_recorded, lastRecorded);
      EXPECT_LE(p.evaluations_recorded, total);
      EXPECT_EQ(p.evaluations_done, p.evaluations_recorded) << "every recorded evaluation has executed";
      EXPECT_EQ(p.recorded, done);
      EXPECT_EQ(p.complete, VK_FALSE);
      EXPECT_GE(p.work_recorded, lastWork) << "work recorded only grows";
      maxSlice = std::max(maxSlice, p.work_recorded - lastWork);
      lastRecorded = p.evaluations_recorded;
      lastWork = p.work_recorded;
    }
    EXPECT_EQ(lastRecorded, total);
    const double workTotal = progress().work_total;
    EXPECT_GT(workTotal, 0.0);
    EXPECT_NEAR(lastWork, workTotal, 1e-6 * workTotal) << "the slices add up to the job";
    std::printf("budget %g units: job of %.1f units, largest slice %.2f units\n", budget, workTotal,
                maxSlice);
    if (budget < 1e-6) largestDispatch = maxSlice;
    if (budget >= largestDispatch) {
      EXPECT_LE(maxSlice, budget * (1 + 1e-9)) << "a slice exceeded its budget";
    }
    TSR_ASSERT_OK(tsr_generator_complete(gen()));
    std::printf("budget %g units: %u slices for %u evaluations\n", budget, slices, total);
    EXPECT_GT(slices, total) << "a small budget needs several slices per evaluation";
    EXPECT_EQ(sliced.pixels[0], whole.pixels[0]) << firstDifference(sliced.pixels[0], whole.pixels[0]);
  }

  // A budget larger than the job records it in one call.
  Job once({r});
  TSR_ASSERT_OK(tsr_generator_begin(gen(), once.requests.data(), 1));
  VkCommandBuffer cmd = submitter().begin();
  VkBool32 done = VK_FALSE;
  TSR_ASSERT_OK(tsr_generator_record_slice(gen(), cmd, 1e12, &done));
  EXPECT_EQ(done, VK_TRUE);
  submitter().submitAndWait(cmd);
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  EXPECT_EQ(once.pixels[0], whole.pixels[0]);

  // Budgets that are not positive are refused.
  TSR_ASSERT_OK(tsr_generator_begin(gen(), once.requests.data(), 1));
  cmd = submitter().begin();
  for (double bad : {0.0, -1.0, double(NAN)})
    expectFailure(outcome(tsr_generator_record_slice(gen(), cmd, bad, &done)), TSR_ERROR_INVALID_ARGUMENT,
                  "tsr_generator_record_slice", {"budget"});
  submitter().discard(cmd);
  TSR_EXPECT_OK(tsr_generator_cancel(gen()));
}

// The mip level above, averaged 2x2 in linear light and encoded back to sRGB.
std::vector<uint8_t> boxDownsampleSrgb(const std::vector<uint8_t>& src, uint32_t w, uint32_t h) {
  const uint32_t dw = w / 2, dh = h / 2;
  std::vector<uint8_t> out(std::size_t(dw) * dh * 4);
  for (uint32_t y = 0; y < dh; ++y)
    for (uint32_t x = 0; x < dw; ++x)
      for (int c = 0; c < 4; ++c) {
        double sum = 0;
        for (uint32_t k = 0; k < 4; ++k) {
          const uint8_t v = src[((2 * y + k / 2) * w + 2 * x + k % 2) * 4 + c];
          sum += c == 3 ? v / 255.0 : srgbToLinear(v / 255.0);
        }
        const double mean = sum / 4;
        out[(std::size_t(y) * dw + x) * 4 + c] =
            uint8_t(std::lround((c == 3 ? mean : linearToSrgb(mean)) * 255.0));
      }
  return out;
}

TEST_F(ApiRecordTest, ImageOutputWritesEveryMipLevel) {
  TRACE_SEED();
  const uint32_t size = 32, levels = fullMipCount(size, size);
  ASSERT_EQ(levels, 6u);
  HostImage image(
      host(), size, size, VK_FORMAT_R8G8B8A8_SRGB, levels,
      VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
  tsr_request r = request(size, size, seed(), 4, 2);
  const std::vector<uint8_t> hostMemory = standaloneBytes(r);
  r.output.kind = TSR_OUTPUT_IMAGE;
  r.output.image = image.image;
  r.output.mip_levels = levels;
  r.output.final_layout = VK_IMAGE_LAYOUT_UNDEFINED;  // 0: SHADER_READ_ONLY_OPTIMAL
  recordWhole(&r, 1);

  HostBuffer readback(host(), size * size * 4 * 2, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  std::memset(readback.data(), 0x5A, readback.size());
  std::vector<VkDeviceSize> at;
  submitter().run([&](VkCommandBuffer cmd) {
    at = image.recordReadback(cmd, levels, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, readback);
  });
  std::vector<uint8_t> above = readback.bytes(at[0], size * size * 4);
  EXPECT_EQ(above, hostMemory) << "level 0 is the host-memory output: " << firstDifference(above, hostMemory);
  for (uint32_t l = 1; l < levels; ++l) {
    SCOPED_TRACE("level " + std::to_string(l));
    const uint32_t w = image.levelWidth(l), h = image.levelHeight(l);
    const std::vector<uint8_t> level = readback.bytes(at[l], std::size_t(w) * h * 4);
    ASSERT_TRUE(opaqueRgba8(level));
    const std::vector<uint8_t> want =
        boxDownsampleSrgb(above, image.levelWidth(l - 1), image.levelHeight(l - 1));
    EXPECT_LE(maxAbsDiff(level, want), 1) << "a 2x2 box in linear light: " << firstDifference(level, want);
    // For scale: averaging the sRGB bytes themselves, the usual mistake.
    std::vector<uint8_t> naive(level.size());
    for (std::size_t i = 0; i < naive.size(); ++i) {
      const uint32_t x = uint32_t(i / 4) % w, y = uint32_t(i / 4) / w, c = uint32_t(i % 4),
                     pw = image.levelWidth(l - 1);
      int sum = 0;
      for (uint32_t k = 0; k < 4; ++k) sum += above[((2 * y + k / 2) * pw + 2 * x + k % 2) * 4 + c];
      naive[i] = uint8_t((sum + 2) / 4);
    }
    std::printf(
        "mip level %u: |mip - linear-light box| mean %.3f max %d; |mip - sRGB-byte box| mean %.3f max %d\n",
        l, meanAbsDiff(level, want), maxAbsDiff(level, want), meanAbsDiff(level, naive),
        maxAbsDiff(level, naive));
    above = level;
  }
}

TEST_F(ApiRecordTest, ImageOutputWritesTheLevelsAskedForInTheirFinalLayout) {
  TRACE_SEED();
  // Three of six levels, left for transfer reads; and an fp16 image of linear colour.
  for (VkFormat format : {VK_FORMAT_R8G8B8A8_UNORM, VK_FORMAT_R16G16B16A16_SFLOAT}) {
    SCOPED_TRACE("format " + std::to_string(int(format)));
    HostImage image(
        host(), 32, 32, format, 6,
        VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
    tsr_request r = request(32, 32, seed(), 1, 1);
    r.output.format = format;
    const std::vector<uint8_t> hostMemory = standaloneBytes(r);
    r.output.kind = TSR_OUTPUT_IMAGE;
    r.output.image = image.image;
    r.output.mip_levels = 3;
    r.output.final_layout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
    // Through tessera's own submission this time.
    TSR_ASSERT_OK(tsr_generate(gen(), &r, 1, nullptr, nullptr));
    const std::size_t px = pixelSize(format);
    HostBuffer readback(host(), 32 * 32 * px * 2, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    submitter().run([&](VkCommandBuffer cmd) {
      VkBufferImageCopy c{};
      c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
      c.imageExtent = {32, 32, 1};
      host().fn.vkCmdCopyImageToBuffer(cmd, image.image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                                       readback.buffer, 1, &c);
      c.bufferOffset = 32 * 32 * px;
      c.imageSubresource.mipLevel = 2;
      c.imageExtent = {8, 8, 1};
      host().fn.vkCmdCopyImageToBuffer(cmd, image.image, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                                       readback.buffer, 1, &c);
    });
    const std::vector<uint8_t> level0 = readback.bytes(0, 32 * 32 * px);
    EXPECT_EQ(level0, hostMemory) << firstDifference(level0, hostMemory);
    if (format == VK_FORMAT_R16G16B16A16_SFLOAT) {
      // Level 2 of linear colour: the 4x4 mean of level 0, within fp16's rounding.
      const std::vector<float> top = decodeRgba16f(level0),
                               l2 = decodeRgba16f(readback.bytes(32 * 32 * px, 8 * 8 * px));
      double worst = 0;
      for (uint32_t y = 0; y < 8; ++y)
        for (uint32_t x = 0; x < 8; ++x)
          for (int c = 0; c < 4; ++c) {
            double sum = 0;
            for (uint32_t k = 0; k < 16; ++k) sum += top[((4 * y + k / 4) * 32 + 4 * x + k % 4) * 4 + c];
            worst = std::max(worst, std::abs(sum / 16 - l2[(y * 8 + x) * 4 + c]));
          }
      EXPECT_LE(worst, 2e-3) << "level 2 of a linear image";
    }
  }
  // One level, like many (tests/api/api_compute_queue_test.cpp), needs no TRANSFER_SRC usage.
  {
    HostImage plain(host(), 16, 16, VK_FORMAT_R8G8B8A8_SRGB, 1,
                    VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
    tsr_request r = request(16, 16, seed(), 1, 1);
    r.output.kind = TSR_OUTPUT_IMAGE;
    r.output.image = plain.image;
    r.output.mip_levels = 1;
    recordWhole(&r, 1);
  }
  // 0 levels, or more than the size has, are refused.
  std::vector<uint8_t> unused(4);
  HostImage image(host(), 16, 16, VK_FORMAT_R8G8B8A8_SRGB, 1, VK_IMAGE_USAGE_TRANSFER_DST_BIT);
  tsr_request r = request(16, 16, 1, 1, 1);
  r.output.kind = TSR_OUTPUT_IMAGE;
  r.output.image = image.image;
  for (uint32_t bad : {0u, 6u}) {
    r.output.mip_levels = bad;
    expectFailure(outcome(tsr_generator_begin(gen(), &r, 1)), TSR_ERROR_INVALID_ARGUMENT,
                  "tsr_generator_begin", {"mip_levels " + std::to_string(bad), "[1, 5]"});
  }
  r.output.mip_levels = 1;
  r.output.image = VK_NULL_HANDLE;
  expectFailure(outcome(tsr_generator_begin(gen(), &r, 1)), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_begin",
                {"output.image is VK_NULL_HANDLE"});
}

TEST_F(ApiRecordTest, BufferOutputLandsAtTheOffsetAndNowhereElse) {
  TRACE_SEED();
  // Two requests of different formats into one buffer of the host's, read back by the host in
  // the same command buffer right after tessera's commands.
  tsr_request a = request(16, 16, seed(), 2, 2), b = request(16, 16, seed(), 8, 2);
  b.output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
  const std::vector<uint8_t> wantA = standaloneBytes(a), wantB = standaloneBytes(b);
  const VkDeviceSize offA = 256, offB = 256 + 16 * 16 * 4 + 256, end = offB + 16 * 16 * 8;
  HostBuffer out(host(), end + 512, VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  HostBuffer copy(host(), end + 512, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  std::memset(out.data(), 0x33, out.size());
  std::memset(copy.data(), 0x00, copy.size());
  tsr_request job[2] = {a, b};
  for (tsr_request* r : {&job[0], &job[1]}) {
    r->output.kind = TSR_OUTPUT_BUFFER;
    r->output.buffer = out.buffer;
    r->output.pixels = nullptr;
  }
  job[0].output.offset = offA;
  job[1].output.offset = offB;
  TSR_ASSERT_OK(tsr_generator_begin(gen(), job, 2));
  VkCommandBuffer cmd = submitter().begin();
  TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
  const VkBufferCopy whole{0, 0, out.size()};
  host().fn.vkCmdCopyBuffer(cmd, out.buffer, copy.buffer, 1, &whole);
  submitter().submitAndWait(cmd);
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  const std::vector<uint8_t> gotA = out.bytes(offA, wantA.size()), gotB = out.bytes(offB, wantB.size());
  EXPECT_EQ(gotA, wantA) << firstDifference(gotA, wantA);
  EXPECT_EQ(gotB, wantB) << firstDifference(gotB, wantB);
  for (VkDeviceSize i = 0; i < out.size(); ++i) {
    const bool inA = i >= offA && i < offA + wantA.size(), inB = i >= offB && i < offB + wantB.size();
    if (!inA && !inB) {
      ASSERT_EQ(out.data()[i], 0x33) << "byte " << i << " outside both outputs";
    }
  }
  EXPECT_EQ(std::memcmp(copy.data(), out.data(), out.size()), 0)
      << "the host's copy after tessera saw the outputs";

  tsr_request bad = a;
  bad.output.kind = TSR_OUTPUT_BUFFER;
  bad.output.buffer = VK_NULL_HANDLE;
  expectFailure(outcome(tsr_generator_begin(gen(), &bad, 1)), TSR_ERROR_INVALID_ARGUMENT,
                "tsr_generator_begin", {"output.buffer is VK_NULL_HANDLE"});
}

TEST_F(ApiRecordTest, ProgressFollowsTheJobsLifecycle) {
  TRACE_SEED();
  // Two groups (different step counts): 2 + 3 evaluations.
  Job job({request(16, 16, seed(), 1, 2), request(16, 16, seed(), 2, 3)});
  TSR_ASSERT_OK(tsr_generator_begin(gen(), job.requests.data(), job.count()));
  tsr_progress p = progress();
  EXPECT_EQ(p.evaluations_total, 5u);
  EXPECT_EQ(p.evaluations_recorded, 0u);
  EXPECT_EQ(p.evaluations_done, 0u);
  EXPECT_EQ(p.recorded, VK_FALSE);
  EXPECT_EQ(p.complete, VK_FALSE);
  EXPECT_GT(p.work_total, 0.0);
  EXPECT_EQ(p.work_recorded, 0.0);
  const double work = p.work_total;

  VkCommandBuffer cmd = submitter().begin();
  TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
  p = progress();
  EXPECT_EQ(p.evaluations_total, 5u);
  EXPECT_EQ(p.evaluations_recorded, 5u);
  EXPECT_EQ(p.evaluations_done, 0u) << "nothing has run: the host has not submitted";
  EXPECT_EQ(p.recorded, VK_TRUE);
  EXPECT_EQ(p.complete, VK_FALSE);
  EXPECT_NEAR(p.work_recorded, work, 1e-6 * work);

  submitter().submitAndWait(cmd);
  p = progress();
  EXPECT_EQ(p.evaluations_done, 5u) << "written by the GPU as it went";
  EXPECT_EQ(p.complete, VK_FALSE) << "complete only after tsr_generator_complete";

  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  p = progress();
  EXPECT_EQ(p.evaluations_total, 5u);
  EXPECT_EQ(p.evaluations_recorded, 5u);
  EXPECT_EQ(p.evaluations_done, 5u);
  EXPECT_EQ(p.recorded, VK_TRUE);
  EXPECT_EQ(p.complete, VK_TRUE);
  EXPECT_TRUE(opaqueRgba8(job.pixels[0]));
  EXPECT_TRUE(opaqueRgba8(job.pixels[1]));

  // The next job starts afresh.
  TSR_ASSERT_OK(tsr_generator_begin(gen(), job.requests.data(), 1));
  p = progress();
  EXPECT_EQ(p.evaluations_total, 2u);
  EXPECT_EQ(p.evaluations_done, 0u);
  EXPECT_EQ(p.complete, VK_FALSE);
  TSR_ASSERT_OK(tsr_generator_cancel(gen()));
}

TEST_F(ApiRecordTest, CallsOutOfOrderAreRefusedAndCancelDropsTheJob) {
  TRACE_SEED();
  const tsr_request r = request(16, 16, seed(), 7, 2);
  const std::vector<uint8_t> want = standaloneBytes(r);
  Job job({r});

  // No job: nothing to record, complete, submit, wait for or query; cancel is harmless.
  VkCommandBuffer cmd = submitter().begin();
  VkBool32 done = VK_FALSE;
  expectFailure(outcome(tsr_generator_record(gen(), cmd)), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_record",
                {"no job"});
  expectFailure(outcome(tsr_generator_record_slice(gen(), cmd, 10, &done)), TSR_ERROR_INVALID_ARGUMENT,
                "tsr_generator_record_slice", {"no job"});
  expectFailure(outcome(tsr_generator_complete(gen())), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_complete",
                {"no job"});
  expectFailure(outcome(tsr_generator_submit(gen())), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_submit",
                {"no job"});
  expectFailure(outcome(tsr_generator_wait(gen(), 0)), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_wait",
                {"no job"});
  expectFailure(outcome(tsr_generator_query(gen())), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_query",
                {"no job"});
  TSR_EXPECT_OK(tsr_generator_cancel(gen()));

  // Begun: a second begin (or a tsr_generate) is BUSY and leaves the first job intact.
  TSR_ASSERT_OK(tsr_generator_begin(gen(), job.requests.data(), 1));
  Job other({request(16, 16, seed(), 1, 1)});
  expectFailure(outcome(tsr_generator_begin(gen(), other.requests.data(), 1)), TSR_ERROR_BUSY,
                "tsr_generator_begin", {"begun job"});
  expectFailure(outcome(tsr_generate(gen(), other.requests.data(), 1, nullptr, nullptr)), TSR_ERROR_BUSY,
                "tsr_generate", {"begun job"});
  expectFailure(outcome(tsr_generator_complete(gen())), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_complete",
                {"begun job"});
  TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
  // Recorded: begin is still BUSY; recording again or submitting it is refused.
  expectFailure(outcome(tsr_generator_begin(gen(), other.requests.data(), 1)), TSR_ERROR_BUSY,
                "tsr_generator_begin", {"recorded job"});
  expectFailure(outcome(tsr_generator_record(gen(), cmd)), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_record",
                {"recorded job"});
  expectFailure(outcome(tsr_generator_submit(gen())), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_submit",
                {"recorded job"});
  expectFailure(outcome(tsr_generator_wait(gen(), 0)), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_wait",
                {"recorded job"});
  submitter().submitAndWait(cmd);
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  EXPECT_EQ(job.pixels[0], want) << "the job survived the refused calls: "
                                 << firstDifference(job.pixels[0], want);
  EXPECT_TRUE(std::all_of(other.pixels[0].begin(), other.pixels[0].end(), [](uint8_t b) {
    return b == 0x5A;
  })) << "a refused job wrote its output";

  // Cancel a begun job, and one recorded into a command buffer the host then throws away.
  Job dropped({request(16, 16, seed(), 9, 1)});
  TSR_ASSERT_OK(tsr_generator_begin(gen(), dropped.requests.data(), 1));
  TSR_ASSERT_OK(tsr_generator_cancel(gen()));
  TSR_ASSERT_OK(tsr_generator_begin(gen(), dropped.requests.data(), 1));
  cmd = submitter().begin();
  TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
  submitter().discard(cmd);
  TSR_ASSERT_OK(tsr_generator_cancel(gen()));
  // One slice that recorded everything is a whole recording: it can be thrown away.
  TSR_ASSERT_OK(tsr_generator_begin(gen(), dropped.requests.data(), 1));
  cmd = submitter().begin();
  TSR_ASSERT_OK(tsr_generator_record_slice(gen(), cmd, 1e300, &done));
  EXPECT_EQ(done, VK_TRUE);
  submitter().discard(cmd);
  TSR_ASSERT_OK(tsr_generator_cancel(gen()));
  // A job recorded in part: submit refuses it (its first slices already went to the host), and so
  // does cancel, since the host may have submitted them; the job is unharmed and runs to the end.
  const std::vector<uint8_t> droppedWant = standaloneBytes(dropped.requests[0]);
  TSR_ASSERT_OK(tsr_generator_begin(gen(), dropped.requests.data(), 1));
  cmd = submitter().begin();
  TSR_ASSERT_OK(tsr_generator_record_slice(gen(), cmd, 1e-9, &done));
  EXPECT_EQ(done, VK_FALSE);
  expectFailure(outcome(tsr_generator_submit(gen())), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_submit",
                {"already recorded in slices"});
  expectFailure(outcome(tsr_generator_cancel(gen())), TSR_ERROR_BUSY, "tsr_generator_cancel",
                {"1 slice(s)", "submitted", "record the rest"});
  TSR_ASSERT_OK(tsr_generator_record_slice(gen(), cmd, 1e-9, &done));
  expectFailure(outcome(tsr_generator_cancel(gen())), TSR_ERROR_BUSY, "tsr_generator_cancel", {"2 slice(s)"});
  while (!done) TSR_ASSERT_OK(tsr_generator_record_slice(gen(), cmd, 50, &done));
  expectFailure(outcome(tsr_generator_cancel(gen())), TSR_ERROR_BUSY, "tsr_generator_cancel",
                {"slice(s)"});  // all recorded, but in several slices
  submitter().submitAndWait(cmd);
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
  EXPECT_EQ(dropped.pixels[0], droppedWant) << firstDifference(dropped.pixels[0], droppedWant);
  TSR_EXPECT_OK(tsr_generator_cancel(gen()));  // with no job, cancel is harmless
  EXPECT_EQ(progress().complete, VK_TRUE) << "a harmless cancel keeps the completed job's progress";
  // A cancelled job leaves no completed progress behind.
  TSR_ASSERT_OK(tsr_generator_begin(gen(), dropped.requests.data(), 1));
  TSR_ASSERT_OK(tsr_generator_cancel(gen()));
  EXPECT_EQ(progress().complete, VK_FALSE);

  // After all that, the generator runs a job as if nothing had happened.
  Job again({r});
  recordWhole(again.requests.data(), 1);
  EXPECT_EQ(again.pixels[0], want) << firstDifference(again.pixels[0], want);
}

}  // namespace
}  // namespace tessera::test::api
