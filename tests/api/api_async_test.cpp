// Jobs tessera submits on its own queue: submit, then query (NOT_READY until the GPU finishes,
// then SUCCESS) or wait; the progress callback of tsr_generate; and threads: generators of one
// shared context (and one shared model) generating concurrently give exactly the bytes they
// give one at a time.
#include <chrono>
#include <random>
#include <thread>

#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

class ApiAsyncTest : public StandaloneApiTest {
 protected:
  void SetUp() override {
    StandaloneApiTest::SetUp();
    seed_ = freshSeed();
    rng_.seed(seed_);
  }
  uint64_t seed() { return rng_() >> 1; }
  static tsr_progress progress(tsr_generator g) {
    tsr_progress p;
    tsr_progress_defaults(&p);
    const tsr_result r = tsr_generator_get_progress(g, &p);
    EXPECT_EQ(r, TSR_SUCCESS) << describe(r);
    return p;
  }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

#define TRACE_SEED() SCOPED_TRACE("test seed " + std::to_string(seed_) + " (TESSERA_TEST_SEED reproduces it)")

TEST_F(ApiAsyncTest, SubmitThenQueryOrWait) {
  TRACE_SEED();
  GeneratorPtr g = makeGenerator(context(), model(), {32, 32, 2});
  // Long enough (6 evaluations of a batch of 2 at 32x32) that the first query surely comes
  // before the end.
  Job job({request(32, 32, seed(), 3, 6, TSR_SAMPLER_DPMPP_2M),
           request(32, 32, seed(), 4, 6, TSR_SAMPLER_DPMPP_2M)});
  const auto reference = generate(g.get(), job.requests);

  TSR_ASSERT_OK(tsr_generator_begin(g.get(), job.requests.data(), job.count()));
  TSR_ASSERT_OK(tsr_generator_submit(g.get()));
  const std::string before = tsr_last_error();
  EXPECT_EQ(tsr_generator_query(g.get()), TSR_NOT_READY);
  EXPECT_EQ(std::string(tsr_last_error()), before) << "NOT_READY is not an error";
  EXPECT_EQ(tsr_generator_wait(g.get(), 0), TSR_NOT_READY);
  EXPECT_EQ(tsr_generator_wait(g.get(), 1'000'000), TSR_NOT_READY) << "1 ms";
  EXPECT_EQ(job.pixels[0][3], poisonByte(VK_FORMAT_R8G8B8A8_SRGB))
      << "pixels are copied when the job completes";
  EXPECT_EQ(progress(g.get()).complete, VK_FALSE);
  // While it runs, the generator takes nothing else.
  Job other({request(32, 32, 1, 1, 1)});
  VkBool32 done = VK_FALSE;
  expectFailure(outcome(tsr_generator_begin(g.get(), other.requests.data(), 1)), TSR_ERROR_BUSY,
                "tsr_generator_begin", {"submitted job"});
  expectFailure(outcome(tsr_generator_cancel(g.get())), TSR_ERROR_BUSY, "tsr_generator_cancel",
                {"submitted"});
  expectFailure(outcome(tsr_generator_submit(g.get())), TSR_ERROR_BUSY, "tsr_generator_submit",
                {"submitted job"});
  expectFailure(outcome(tsr_generator_complete(g.get())), TSR_ERROR_BUSY, "tsr_generator_complete",
                {"submitted job"});
  expectFailure(
      outcome(tsr_generator_record_slice(g.get(), reinterpret_cast<VkCommandBuffer>(0x1), 1.0, &done)),
      TSR_ERROR_BUSY, "tsr_generator_record_slice", {"submitted job"});

  uint32_t notReady = 0;
  tsr_result r;
  while ((r = tsr_generator_query(g.get())) == TSR_NOT_READY) {
    ++notReady;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_LT(notReady, 60'000u) << "the job never finished";
  }
  ASSERT_EQ(r, TSR_SUCCESS) << describe(r);
  std::printf("query: NOT_READY %u times (2 ms apart), then SUCCESS\n", notReady);
  const tsr_progress p = progress(g.get());
  EXPECT_EQ(p.complete, VK_TRUE);
  EXPECT_EQ(p.evaluations_total, 6u) << "one network evaluation per step for the whole batch";
  EXPECT_EQ(p.evaluations_done, 6u);
  for (uint32_t i = 0; i < job.count(); ++i)
    EXPECT_EQ(job.pixels[i], reference[i])
        << "request " << i << ": " << firstDifference(job.pixels[i], reference[i]);
  // Asking again still says complete (until the next begin), and a wait returns at once.
  EXPECT_EQ(tsr_generator_query(g.get()), TSR_SUCCESS);
  EXPECT_EQ(tsr_generator_wait(g.get(), 0), TSR_SUCCESS);

  // The same through a blocking wait.
  job.bind();
  TSR_ASSERT_OK(tsr_generator_begin(g.get(), job.requests.data(), job.count()));
  TSR_ASSERT_OK(tsr_generator_submit(g.get()));
  TSR_ASSERT_OK(tsr_generator_wait(g.get(), UINT64_MAX));
  for (uint32_t i = 0; i < job.count(); ++i) EXPECT_EQ(job.pixels[i], reference[i]) << "request " << i;

  // Destroying a generator with a job in flight waits for it (no validation message, no crash).
  TSR_ASSERT_OK(tsr_generator_begin(g.get(), job.requests.data(), job.count()));
  TSR_ASSERT_OK(tsr_generator_submit(g.get()));
  g.reset();
}

TEST_F(ApiAsyncTest, ProgressCallbackCountsEvaluationsUpToTheTotal) {
  TRACE_SEED();
  GeneratorPtr g = makeGenerator(context(), model(), {32, 32, 1});
  struct Seen {
    std::vector<tsr_progress> calls;
    std::thread::id thread;
    bool otherThread = false;
  } seen;
  seen.thread = std::this_thread::get_id();
  auto cb = [](const tsr_progress* p, void* user) {
    auto* s = static_cast<Seen*>(user);
    s->calls.push_back(*p);
    if (std::this_thread::get_id() != s->thread) s->otherThread = true;
  };
  tsr_request r = request(32, 32, seed(), 6, 8, TSR_SAMPLER_EULER);
  const std::vector<uint8_t> px = generate(g.get(), {r}, cb, &seen)[0];
  EXPECT_TRUE(opaqueRgba8(px));
  ASSERT_FALSE(seen.calls.empty());
  EXPECT_FALSE(seen.otherThread) << "called from the thread that called tsr_generate";
  std::string sequence;
  for (std::size_t i = 0; i < seen.calls.size(); ++i) {
    const tsr_progress& p = seen.calls[i];
    sequence += std::to_string(p.evaluations_done) + " ";
    EXPECT_EQ(p.evaluations_total, 8u);
    EXPECT_LE(p.evaluations_done, p.evaluations_recorded);
    EXPECT_EQ(p.recorded, VK_TRUE);
    if (i > 0) {
      // Increasing; the completion call may repeat the count the GPU had already reported.
      const uint32_t before = seen.calls[i - 1].evaluations_done;
      EXPECT_TRUE(p.evaluations_done > before || (p.complete && p.evaluations_done == before))
          << "call " << i << ": " << before << " then " << p.evaluations_done;
    }
    EXPECT_EQ(p.complete, i + 1 == seen.calls.size() ? VK_TRUE : VK_FALSE) << "call " << i;
  }
  EXPECT_EQ(seen.calls.back().evaluations_done, 8u) << "the last call is at the total";
  std::printf("progress callback: %zu calls, evaluations_done: %s\n", seen.calls.size(), sequence.c_str());
  // 8 evaluations of ~tens of ms each, polled every 5 ms: the host sees the job advance.
  EXPECT_GE(seen.calls.size(), 3u) << sequence;
  // The same job without a callback gives the same bytes.
  EXPECT_EQ(generateOne(g.get(), r), px);
}

// One context and one model, a generator per thread (made on that thread), each generating
// several jobs concurrently with the other; every output equals the one-at-a-time result.
TEST_F(ApiAsyncTest, GeneratorsOfOneContextRunOnTwoThreads) {
  TRACE_SEED();
  constexpr int kThreads = 2, kJobs = 3, kRounds = 2;
  std::vector<std::vector<tsr_request>> jobs(kThreads);
  for (int t = 0; t < kThreads; ++t)
    for (int j = 0; j < kJobs; ++j) jobs[t].push_back(request(16, 16, seed(), int32_t((3 * t + j) % 10), 2));
  // One at a time, on a generator of the same description.
  const GeneratorSpec spec{16, 16, 1};
  std::vector<std::vector<std::vector<uint8_t>>> want(kThreads);
  {
    GeneratorPtr single = makeGenerator(context(), model(), spec);
    for (int t = 0; t < kThreads; ++t)
      for (const tsr_request& r : jobs[t]) want[t].push_back(generateOne(single.get(), r));
  }

  struct Result {
    std::string error;
    std::vector<std::vector<uint8_t>> outputs;
    std::string badRequestMessage;
  };
  std::vector<Result> results(kThreads);
  std::atomic<int> ready{0};
  auto work = [&](int t) {
    Result& res = results[t];
    tsr_generator_desc d = spec.desc();
    tsr_generator g = nullptr;
    if (tsr_generator_create(context(), model(), &d, &g) != TSR_SUCCESS) {
      res.error = "create: " + std::string(tsr_last_error());
      ++ready;
      return;
    }
    ++ready;
    while (ready < kThreads) std::this_thread::yield();  // generate at the same time
    for (int round = 0; round < kRounds && res.error.empty(); ++round)
      for (int j = 0; j < kJobs; ++j) {
        tsr_request r = jobs[t][j];
        std::vector<uint8_t> px(16 * 16 * 4, 0x5A);
        r.output.pixels = px.data();
        // Thread 0 blocks in tsr_generate, thread 1 submits and polls.
        tsr_result rr;
        if (t == 0) {
          rr = tsr_generate(g, &r, 1, nullptr, nullptr);
        } else {
          rr = tsr_generator_begin(g, &r, 1);
          if (rr == TSR_SUCCESS) rr = tsr_generator_submit(g);
          if (rr == TSR_SUCCESS)
            while ((rr = tsr_generator_query(g)) == TSR_NOT_READY) std::this_thread::yield();
        }
        if (rr != TSR_SUCCESS) {
          res.error = "round " + std::to_string(round) + " job " + std::to_string(j) + ": " + describe(rr);
          break;
        }
        res.outputs.push_back(std::move(px));
        // A bad request on this thread: its message is this thread's, whatever the other does.
        if (round == 0 && j == 1) {
          tsr_request bad = r;
          bad.width = 4 * (10 + t) + 2;
          tsr_generate(g, &bad, 1, nullptr, nullptr);
          res.badRequestMessage = tsr_last_error();
        }
      }
    tsr_generator_destroy(g);
  };
  // Meanwhile the main thread asks the shared context and model for things.
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, t);
  for (int i = 0; i < 20; ++i) {
    tsr_memory_requirements mr;
    tsr_memory_requirements_defaults(&mr);
    const tsr_generator_desc d = spec.desc();
    EXPECT_EQ(tsr_query_memory(context(), model(), &d, &mr), TSR_SUCCESS) << tsr_last_error();
    tsr_model_info mi;
    tsr_model_info_defaults(&mi);
    EXPECT_EQ(tsr_model_get_info(model(), &mi), TSR_SUCCESS);
  }
  for (std::thread& t : threads) t.join();

  for (int t = 0; t < kThreads; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    ASSERT_EQ(results[t].error, "");
    ASSERT_EQ(results[t].outputs.size(), std::size_t(kRounds * kJobs));
    for (int k = 0; k < kRounds * kJobs; ++k)
      EXPECT_EQ(results[t].outputs[k], want[t][k % kJobs])
          << "output " << k << ": " << firstDifference(results[t].outputs[k], want[t][k % kJobs]);
    const std::string size = std::to_string(4 * (10 + t) + 2) + "x16";
    EXPECT_NE(results[t].badRequestMessage.find(size), std::string::npos) << results[t].badRequestMessage;
  }
}

}  // namespace
}  // namespace tessera::test::api
