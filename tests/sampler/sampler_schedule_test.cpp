// The CPU side of the sampler: noise schedules, timestep selection and plan() (no GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "op_harness.hpp"
#include "sampler/schedule.hpp"

namespace tessera::test {
namespace {

using sampler::NoiseSchedule;
using sampler::Parameterization;
using sampler::PlanInput;
using sampler::SamplerKind;

NoiseSchedule stableDiffusionSchedule() {
  return NoiseSchedule::fromJson(model::Json::parse(R"({
    "_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "clip_sample": false, "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": false,
    "steps_offset": 1, "trained_betas": null, "timestep_spacing": "leading"})"));
}

TEST(SamplerScheduleTest, AlphasCumprodMatchesKnownValues) {
  // Stable Diffusion's scaled_linear schedule ends near 0.0047; DDPM's linear one at 4.04e-5.
  const std::vector<double> sd = stableDiffusionSchedule().alphasCumprod();
  ASSERT_EQ(sd.size(), 1000u);
  EXPECT_NEAR(sd[0], 1 - 0.00085, 1e-15);
  EXPECT_NEAR(sd[999], 0.0046601, 1e-6);
  const std::vector<double> linear = NoiseSchedule{}.alphasCumprod();
  EXPECT_NEAR(linear[0], 0.9999, 1e-15);
  EXPECT_NEAR(linear[999], 4.03583e-5, 1e-9);
  NoiseSchedule cosine;
  cosine.betaSchedule = sampler::BetaSchedule::SquaredCosCapV2;
  const std::vector<double> cos = cosine.alphasCumprod();
  // The first beta is 1 - alpha_bar(1/T)/alpha_bar(0); the last ones hit the 0.999 cap.
  const auto alphaBar = [](double t) {
    return std::pow(std::cos((t + 0.008) / 1.008 * std::numbers::pi / 2), 2);
  };
  EXPECT_NEAR(cos[0], alphaBar(0.001) / alphaBar(0), 1e-15);
  EXPECT_NEAR(cos[999] / cos[998], 0.001, 1e-12);
  for (std::size_t t = 1; t < cos.size(); ++t) ASSERT_LT(cos[t], cos[t - 1]);
}

TEST(SamplerScheduleTest, DiffusersTimestepSelection) {
  NoiseSchedule s = stableDiffusionSchedule();
  std::vector<uint32_t> t = sampler::diffusersTimesteps(s, 50);
  ASSERT_EQ(t.size(), 50u);
  EXPECT_EQ(t[0], 981u);
  EXPECT_EQ(t[1], 961u);
  EXPECT_EQ(t[49], 1u);
  s.stepsOffset = 0;
  EXPECT_EQ(sampler::diffusersTimesteps(s, 4), (std::vector<uint32_t>{750, 500, 250, 0}));
  s.spacing = sampler::TimestepSpacing::Trailing;
  t = sampler::diffusersTimesteps(s, 50);
  EXPECT_EQ(t[0], 999u);
  EXPECT_EQ(t[49], 19u);
  EXPECT_EQ(sampler::diffusersTimesteps(s, 7), (std::vector<uint32_t>{999, 856, 713, 570, 428, 285, 142}));
  s.spacing = sampler::TimestepSpacing::Linspace;
  t = sampler::diffusersTimesteps(s, 50);
  EXPECT_EQ(std::vector<uint32_t>(t.begin(), t.begin() + 5),
            (std::vector<uint32_t>{999, 979, 958, 938, 917}));
  EXPECT_EQ(t[49], 0u);
  // k * 166.5 ties round to even, as numpy's round does.
  EXPECT_EQ(sampler::diffusersTimesteps(s, 7), (std::vector<uint32_t>{999, 832, 666, 500, 333, 166, 0}));
  expectError([&] { sampler::diffusersTimesteps(s, 1001); }, ErrorCode::InvalidArgument, "1001 steps");
  s.spacing = sampler::TimestepSpacing::Leading;
  s.stepsOffset = 1;
  expectError([&] { sampler::diffusersTimesteps(s, 1000); }, ErrorCode::InvalidArgument, "timestep 1000");
}

TEST(SamplerScheduleTest, KarrasSigmas) {
  // rho = 1 is a straight line from sigma_max to sigma_min.
  const std::vector<double> line = sampler::karrasSigmas(3, 1.0, 3.0, 1.0);
  ASSERT_EQ(line.size(), 4u);
  EXPECT_NEAR(line[0], 3.0, 1e-15);
  EXPECT_NEAR(line[1], 2.0, 1e-15);
  EXPECT_NEAR(line[2], 1.0, 1e-15);
  EXPECT_EQ(line[3], 0.0);
  // rho = 7, two steps: the ends, then 0; one step: sigma_max only.
  const std::vector<double> two = sampler::karrasSigmas(2, 0.002, 80.0);
  EXPECT_NEAR(two[0], 80.0, 1e-12);
  EXPECT_NEAR(two[1], 0.002, 1e-15);
  EXPECT_EQ(sampler::karrasSigmas(1, 0.002, 80.0).size(), 2u);
  // The midpoint of 3 steps: ((80^(1/7) + 0.002^(1/7)) / 2)^7.
  EXPECT_NEAR(sampler::karrasSigmas(3, 0.002, 80.0)[1],
              std::pow((std::pow(80.0, 1 / 7.0) + std::pow(0.002, 1 / 7.0)) / 2, 7), 1e-12);
}

TEST(SamplerScheduleTest, StageCountsPerSampler) {
  PlanInput in;
  in.steps = 5;
  for (SamplerKind k : {SamplerKind::Euler, SamplerKind::DpmPP2M}) {
    in.sampler = k;
    EXPECT_EQ(sampler::plan(in).stages.size(), 5u) << sampler::samplerName(k);
  }
  in.sampler = SamplerKind::Heun;
  EXPECT_EQ(sampler::plan(in).stages.size(), 9u);  // 2 per step, 1 for the last to sigma 0
  in.sampler = SamplerKind::Consistency;
  in.sigmas = {80, 10, 2, 0.5, 0.1};
  const sampler::StagePlan c = sampler::plan(in);
  EXPECT_EQ(c.stages.size(), 5u);
  EXPECT_EQ(c.sigmas, in.sigmas);
  in.sigmas.clear();
  in.parameterization = Parameterization::Epsilon;
  in.schedule = NoiseSchedule{};
  for (SamplerKind k : {SamplerKind::Ddim, SamplerKind::Ddpm, SamplerKind::Euler}) {
    in.sampler = k;
    const sampler::StagePlan p = sampler::plan(in);
    EXPECT_EQ(p.stages.size(), 5u) << sampler::samplerName(k);
    EXPECT_EQ(p.cNoise, (std::vector<double>{800, 600, 400, 200, 0})) << sampler::samplerName(k);
  }
}

TEST(SamplerScheduleTest, RowsCarryTheStartAndTheStreams) {
  PlanInput in;
  in.steps = 4;
  in.sigmaMax = 20.0;
  in.guidance = 3.5;
  in.classCount = 6;
  in.nullClass = 5;
  in.inpaint = true;
  const sampler::StagePlan p = sampler::plan(in);
  EXPECT_FLOAT_EQ(p.start.sigmaX, 20.0f);
  EXPECT_EQ(p.start.x[3], 0.0f);
  EXPECT_EQ(p.start.stream, 0u);
  for (std::size_t k = 0; k < p.stages.size(); ++k) {
    const sampler::StageParams& r = p.stages[k];
    EXPECT_EQ(r.stream, sampler::stageStream(uint32_t(k)));
    EXPECT_EQ(r.guidance, 3.5f);
    EXPECT_EQ(r.nullClass, 5u);
    EXPECT_EQ(r.classCount, 6u);
    EXPECT_TRUE(r.flags & sampler::kInpaint);
    // Euler: x' = (s'/s) x + (1 - s'/s) D, E follows X, and the blend uses the next level.
    const double next = k + 1 < p.sigmas.size() ? p.sigmas[k + 1] : 0.0, ratio = next / p.sigmas[k];
    EXPECT_FLOAT_EQ(r.x[0], float(ratio));
    EXPECT_FLOAT_EQ(r.x[1], float(1 - ratio));
    EXPECT_EQ(r.x[4], 0.0f);
    EXPECT_FLOAT_EQ(r.sigmaX, float(next));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(r.e[i], r.x[i]);
    // EDM preconditioning, sigma_data 0.5.
    const double s = p.sigmas[k];
    EXPECT_FLOAT_EQ(r.cIn, float(1 / std::sqrt(s * s + 0.25)));
    EXPECT_FLOAT_EQ(r.cNoise, float(std::log(s) / 4));
  }
  EXPECT_EQ(p.stages.back().sigmaX, 0.0f);
}

TEST(SamplerScheduleTest, StrengthKeepsTheLastSteps) {
  PlanInput in;
  in.steps = 10;
  const sampler::StagePlan full = sampler::plan(in);
  in.strength = 0.5;
  const sampler::StagePlan half = sampler::plan(in);
  ASSERT_EQ(half.stages.size(), 5u);
  EXPECT_TRUE(half.fromInit);
  EXPECT_EQ(half.start.x[3], 1.0f);
  EXPECT_FLOAT_EQ(half.start.sigmaX, float(full.sigmas[5]));
  EXPECT_EQ(half.sigmas, std::vector<double>(full.sigmas.begin() + 5, full.sigmas.end()));
  in.strength = 0.3;  // 0.3 * 10 rounds to 3.0000000000000004: still 3 steps
  EXPECT_EQ(sampler::plan(in).stages.size(), 3u);
  in.strength = 0.01;  // ceil: any positive strength runs at least one step
  EXPECT_EQ(sampler::plan(in).stages.size(), 1u);
  in.strength = 0.0;
  const sampler::StagePlan none = sampler::plan(in);
  EXPECT_TRUE(none.stages.empty());
  EXPECT_EQ(none.start.x[3], 1.0f);  // X = Init
  EXPECT_EQ(none.start.sigmaX, 0.0f);
  // diffusers img2img: X = init + sigma(t) z at the first kept timestep.
  in.parameterization = Parameterization::Epsilon;
  in.schedule = NoiseSchedule{};
  in.sampler = SamplerKind::Ddim;
  in.strength = 0.4;
  const sampler::StagePlan ddim = sampler::plan(in);
  ASSERT_EQ(ddim.cNoise, (std::vector<double>{300, 200, 100, 0}));
  EXPECT_FLOAT_EQ(ddim.start.sigmaX,
                  float(sampler::sigmaOfAlphaCumprod(NoiseSchedule{}.alphasCumprod()[300])));
}

TEST(SamplerScheduleTest, NoiseScheduleFromSchedulerConfig) {
  const NoiseSchedule s = stableDiffusionSchedule();
  EXPECT_EQ(s.betaSchedule, sampler::BetaSchedule::ScaledLinear);
  EXPECT_EQ(s.stepsOffset, 1u);
  EXPECT_FALSE(s.setAlphaToOne);
  EXPECT_FALSE(s.clipSample);
  const NoiseSchedule v = NoiseSchedule::fromJson(model::Json::parse(R"({"prediction_type": "v_prediction",
    "timestep_spacing": "trailing", "num_train_timesteps": 500})"));
  EXPECT_EQ(v.prediction, Parameterization::VPrediction);
  EXPECT_EQ(v.spacing, sampler::TimestepSpacing::Trailing);
  EXPECT_EQ(v.numTrainTimesteps, 500u);
  EXPECT_TRUE(v.clipSample);  // diffusers' default
  const auto refuse = [](const char* json, ErrorCode code, const char* needle) {
    expectError([&] { NoiseSchedule::fromJson(model::Json::parse(json)); }, code, needle);
  };
  refuse(R"({"prediction_type": "sample"})", ErrorCode::Unsupported, "prediction_type \"sample\"");
  refuse(R"({"thresholding": true})", ErrorCode::Unsupported, "thresholding");
  refuse(R"({"beta_schedule": "sigmoid"})", ErrorCode::Unsupported, "beta_schedule \"sigmoid\"");
  refuse(R"({"beta_start": "small"})", ErrorCode::InvalidArgument, "beta_start");
  refuse(R"({"beta_end": 1.5})", ErrorCode::InvalidArgument, "must lie in (0, 1)");
  refuse(R"({"num_train_timesteps": -3})", ErrorCode::InvalidArgument, "num_train_timesteps");
}

TEST(SamplerScheduleTest, RefusesBadPlans) {
  const auto refuse = [](const PlanInput& in, ErrorCode code, const char* needle) {
    expectError([&] { sampler::plan(in); }, code, needle);
  };
  PlanInput in;
  in.steps = 0;
  refuse(in, ErrorCode::InvalidArgument, "0 steps");
  in.steps = 4;
  in.strength = 1.5;
  refuse(in, ErrorCode::InvalidArgument, "strength 1.5");
  in.strength = std::nan("");
  refuse(in, ErrorCode::InvalidArgument, "strength");
  in.strength = 1.0;
  in.sampler = SamplerKind::Ddim;
  refuse(in, ErrorCode::Unsupported, "ddim needs a discrete-time");
  in.sampler = SamplerKind::Consistency;
  refuse(in, ErrorCode::InvalidArgument, "recorded step sigmas");
  in.sigmas = {80, 20, 30, 1};
  refuse(in, ErrorCode::InvalidArgument, "descend");
  in.sigmas = {80, 20, 1};
  refuse(in, ErrorCode::InvalidArgument, "3 step sigmas for 4 steps");
  in.sigmas.clear();
  in.sampler = SamplerKind::Euler;
  in.guidance = 2.0;
  refuse(in, ErrorCode::InvalidArgument, "needs a class-conditional model");
  in.classCount = 3;
  in.nullClass = 3;
  refuse(in, ErrorCode::InvalidArgument, "null class 3");
  in.guidance = 1.0;
  in.sigmaMin = 100;
  refuse(in, ErrorCode::InvalidArgument, "sigma_min < sigma_max");
  in.sigmaMin = 0.002;
  in.parameterization = Parameterization::Epsilon;
  refuse(in, ErrorCode::InvalidArgument, "without a noise schedule");
  in.schedule = NoiseSchedule{};
  in.schedule->prediction = Parameterization::VPrediction;
  refuse(in, ErrorCode::InvalidArgument, "the noise schedule predicts v_prediction");
  in.schedule->prediction = Parameterization::Epsilon;
  in.sampler = SamplerKind::Consistency;
  refuse(in, ErrorCode::Unsupported, "EDM-parameterised");
  in.sampler = SamplerKind::Ddpm;
  in.schedule->varianceType = "learned_range";
  refuse(in, ErrorCode::Unsupported, "learned_range");
  EXPECT_EQ(sampler::parseSamplerKind("dpmpp_2m"), SamplerKind::DpmPP2M);
  expectError([] { sampler::parseSamplerKind("lms"); }, ErrorCode::InvalidArgument,
              "unknown sampler \"lms\"");
}

}  // namespace
}  // namespace tessera::test
