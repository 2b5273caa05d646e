// diffusers scheduler configs: each supported class maps to its sampler with its own defaults and
// parameters; any other class, unknown key or value tessera does not run is refused, naming it.
#include "scheduler_config.hpp"

#include <gtest/gtest.h>

#include "op_harness.hpp"

namespace tessera::model {
namespace {

using test::expectError;

SchedulerSpec parse(const char* json) { return parseSchedulerConfig(Json::parse(json)); }

TEST(SchedulerConfig, ClassesMapToSamplersWithTheirDefaults) {
  const SchedulerSpec ddpm = parse(R"({"_class_name": "DDPMScheduler", "variance_type": "fixed_large"})");
  EXPECT_STREQ(ddpm.sampler(), "ddpm");
  EXPECT_EQ(ddpm.defaultSteps(), 1000u);
  EXPECT_EQ(ddpm.timestepSpacing, "leading");
  EXPECT_TRUE(ddpm.clipSample);
  EXPECT_EQ(ddpm.varianceType, "fixed_large");
  const SchedulerSpec ddim = parse(R"({"_class_name": "DDIMScheduler", "set_alpha_to_one": false, "steps_offset": 1})");
  EXPECT_STREQ(ddim.sampler(), "ddim");
  EXPECT_EQ(ddim.defaultSteps(), 50u);
  EXPECT_FALSE(ddim.setAlphaToOne);
  EXPECT_EQ(ddim.stepsOffset, 1u);
  const SchedulerSpec euler = parse(R"({"_class_name": "EulerDiscreteScheduler", "interpolation_type": "linear",
      "use_karras_sigmas": false, "sigma_min": null, "sigma_max": null, "timestep_type": "discrete"})");
  EXPECT_STREQ(euler.sampler(), "euler");
  EXPECT_EQ(euler.timestepSpacing, "linspace");  // Euler's own default
  EXPECT_FALSE(euler.clipSample);
  const SchedulerSpec cm = parse(R"({"_class_name": "CMStochasticIterativeScheduler", "sigma_min": 0.002,
      "sigma_max": 80.0, "sigma_data": 0.5, "rho": 7.0, "s_noise": 1.0, "clip_denoised": true})");
  EXPECT_STREQ(cm.sampler(), "consistency");
  EXPECT_FALSE(cm.discrete());
  EXPECT_EQ(cm.numTrainTimesteps, 40u);
  EXPECT_EQ(cm.defaultSteps(), 1u);
  EXPECT_DOUBLE_EQ(cm.sigmaData, 0.5);
  const SchedulerSpec unnamed = parse(R"({"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012})");
  EXPECT_EQ(unnamed.cls, SchedulerClass::Unnamed);
  EXPECT_STREQ(unnamed.sampler(), "ddim");
  EXPECT_TRUE(parse(R"({"_class_name": "DDPMScheduler", "variance_type": "learned_range"})").learnedVariance());
}

TEST(SchedulerConfig, RefusesWhatItDoesNotRunNamingIt) {
  const auto refuse = [](const char* json, ErrorCode code, const char* needle) {
    expectError([&] { parse(json); }, code, needle);
  };
  refuse(R"({"_class_name": "PNDMScheduler"})", ErrorCode::Unsupported, "scheduler class \"PNDMScheduler\"");
  refuse(R"({"_class_name": "DDPMScheduler", "eta": 0.5})", ErrorCode::Unsupported, "key \"eta\"");
  refuse(R"({"_class_name": "DDIMScheduler", "variance_type": "fixed_small"})", ErrorCode::Unsupported,
         "key \"variance_type\"");
  refuse(R"({"_class_name": "DDPMScheduler", "variance_type": "wide"})", ErrorCode::Unsupported, "variance_type \"wide\"");
  refuse(R"({"_class_name": "EulerDiscreteScheduler", "use_karras_sigmas": true})", ErrorCode::Unsupported,
         "use_karras_sigmas");
  refuse(R"({"_class_name": "EulerDiscreteScheduler", "interpolation_type": "log_linear"})", ErrorCode::Unsupported,
         "interpolation_type \"log_linear\"");
  refuse(R"({"_class_name": "EulerDiscreteScheduler", "timestep_type": "continuous"})", ErrorCode::Unsupported,
         "timestep_type");
  refuse(R"({"_class_name": "CMStochasticIterativeScheduler", "beta_start": 0.1})", ErrorCode::Unsupported,
         "key \"beta_start\"");
  refuse(R"({"_class_name": "CMStochasticIterativeScheduler", "sigma_min": 90})", ErrorCode::InvalidArgument,
         "sigma_min");
  refuse(R"({"_class_name": "CMStochasticIterativeScheduler", "sigma_data": -1})", ErrorCode::InvalidArgument,
         "sigma_data");
  refuse(R"({"_class_name": "DDPMScheduler", "prediction_type": "sample"})", ErrorCode::Unsupported,
         "prediction_type \"sample\"");
  refuse(R"({"_class_name": "DDPMScheduler", "trained_betas": [0.1, 0.2]})", ErrorCode::Unsupported, "trained_betas");
  refuse(R"({"_class_name": "DDIMScheduler", "thresholding": true})", ErrorCode::Unsupported, "thresholding");
  refuse(R"({"_class_name": 3})", ErrorCode::InvalidArgument, "_class_name");
  refuse(R"([1, 2])", ErrorCode::InvalidArgument, "a JSON object");
}

}  // namespace
}  // namespace tessera::model
