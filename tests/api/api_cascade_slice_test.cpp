// A cascade package (models/teacher.tsr: the base and its super-resolution stage) recorded into the
// host's command buffers in slices, each slice its own submission: the slices cross from the base
// into the SR stage and its upsampling, and the bytes equal the whole recording and tessera's own
// tsr_generate. The job's progress counts the evaluations of every stage.
#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

TEST(ApiCascadeSliceTest, SlicesAcrossStagesGiveTheSameBytes) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("test seed " + std::to_string(seed) + " (TESSERA_TEST_SEED reproduces it)");
  HostVulkan host(/*validation=*/true);
  HostSubmitter submitter(host);
  ModelPtr model = loadModel(modelPath("teacher.tsr"));
  tsr_model_info info;
  tsr_model_info_defaults(&info);
  TSR_ASSERT_OK(tsr_model_get_info(model.get(), &info));
  ASSERT_GE(info.stage_count, 1u) << "models/teacher.tsr is a cascade package";
  // Sizes above the base's native one run the cascade: 128x128 out, the base at 128 / cascade_scale.
  ASSERT_GT(128u, info.native_size);
  const tsr_request r = request(128, 128, seed, 2, 2, TSR_SAMPLER_DEFAULT);

  std::vector<uint8_t> want;
  {
    MessageLog log;
    ContextPtr standalone = standaloneContext(log);
    GeneratorPtr g = makeGenerator(standalone.get(), model.get(), GeneratorSpec{128, 128, 1});
    want = generateOne(g.get(), r);
    log.expectNoneSince(0);
  }
  ASSERT_TRUE(opaqueRgba8(want));

  ContextPtr context = hostContext(host);
  GeneratorPtr gen = makeGenerator(context.get(), model.get(), GeneratorSpec{128, 128, 1});
  const auto progress = [&] {
    tsr_progress p;
    tsr_progress_defaults(&p);
    EXPECT_EQ(tsr_generator_get_progress(gen.get(), &p), TSR_SUCCESS);
    return p;
  };
  {
    Job whole({r});
    TSR_ASSERT_OK(tsr_generator_begin(gen.get(), whole.requests.data(), 1));
    VkCommandBuffer cmd = submitter.begin();
    TSR_ASSERT_OK(tsr_generator_record(gen.get(), cmd));
    submitter.submitAndWait(cmd);
    TSR_ASSERT_OK(tsr_generator_complete(gen.get()));
    EXPECT_EQ(whole.pixels[0], want) << firstDifference(whole.pixels[0], want);
  }
  // 1e-9: one dispatch per slice; 30 units: several dispatches per slice, some slices spanning
  // the end of the base and the start of the SR stage.
  for (double budget : {1e-9, 30.0}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    Job sliced({r});
    TSR_ASSERT_OK(tsr_generator_begin(gen.get(), sliced.requests.data(), 1));
    const uint32_t total = progress().evaluations_total;
    EXPECT_GT(total, 2u) << "the base's 2 steps and the SR stage's evaluations";
    uint32_t slices = 0;
    double lastWork = 0;
    VkBool32 done = VK_FALSE;
    while (!done) {
      ASSERT_LT(slices, 100000u) << "record_slice never reports done";
      VkCommandBuffer cmd = submitter.begin();
      TSR_ASSERT_OK(tsr_generator_record_slice(gen.get(), cmd, budget, &done));
      submitter.submitAndWait(cmd);
      ++slices;
      const tsr_progress p = progress();
      EXPECT_GE(p.work_recorded, lastWork);
      EXPECT_EQ(p.evaluations_done, p.evaluations_recorded);
      lastWork = p.work_recorded;
    }
    EXPECT_EQ(progress().evaluations_recorded, total);
    EXPECT_NEAR(lastWork, progress().work_total, 1e-6 * progress().work_total);
    TSR_ASSERT_OK(tsr_generator_complete(gen.get()));
    std::printf("budget %g units: %u slices for %u evaluations over %u stage(s)\n", budget, slices, total,
                info.stage_count + 1);
    EXPECT_GT(slices, total);
    EXPECT_EQ(sliced.pixels[0], want) << firstDifference(sliced.pixels[0], want);
  }
  gen.reset();
  context.reset();
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation: " << m;
}

}  // namespace
}  // namespace tessera::test::api
