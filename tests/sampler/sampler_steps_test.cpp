// Whole sampler runs on the GPU (samplerStart, then samplerPrepare + samplerUpdate per stage, rows
// from plan()) against the samplers as their papers and libraries state them, written here in
// double precision: k-diffusion / tools/train/edm.py for Euler, Heun, DPM-Solver++(2M) and
// consistency sampling, diffusers' DDIMScheduler.step and DDPMScheduler.step (in VP space, with
// alphas) for DDIM and DDPM. The "network" is a list of random outputs F, one per evaluation,
// and the noise is ops::gaussianNoise of the same seeds and streams.
#include <algorithm>
#include <cmath>
#include <functional>

#include "sampler/sampler_prepare.hpp"
#include "sampler/sampler_start.hpp"
#include "sampler/sampler_update.hpp"
#include "sampler/schedule.hpp"
#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

using sampler::Parameterization;
using sampler::SamplerKind;
using Vec = std::vector<double>;

class SamplerStepsTest : public GpuTest {};

Vec operator+(const Vec& a, const Vec& b) {
  Vec r(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) r[i] = a[i] + b[i];
  return r;
}
Vec operator-(const Vec& a, const Vec& b) {
  Vec r(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) r[i] = a[i] - b[i];
  return r;
}
Vec operator*(double s, const Vec& a) {
  Vec r(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) r[i] = s * a[i];
  return r;
}
Vec toVec(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

// The fake network: evaluation k returns outputs[k] and records what it was given.
struct Net {
  const std::vector<Vec>& outputs;
  std::vector<Vec> inputs;
  std::vector<double> timesteps;
  const Vec& operator()(const Vec& input, double t) {
    inputs.push_back(input);
    timesteps.push_back(t);
    return outputs.at(inputs.size() - 1);
  }
};

using Denoiser = std::function<Vec(const Vec& x, std::size_t level)>;
// Called after each step with the step index and the level reached (inpainting).
using AfterStep = std::function<void(Vec& x, std::size_t step, double sigmaNext)>;

// --- k-diffusion / tools/train/edm.py ---------------------------------------------------------

Vec sampleEuler(const Denoiser& d, Vec x, const Vec& sigmas, const AfterStep& after) {
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const Vec denoised = d(x, i);
    const Vec slope = (1.0 / sigmas[i]) * (x - denoised);
    x = x + (sigmas[i + 1] - sigmas[i]) * slope;
    if (after) after(x, i, sigmas[i + 1]);
  }
  return x;
}

Vec sampleHeun(const Denoiser& d, Vec x, const Vec& sigmas) {
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], next = sigmas[i + 1];
    const Vec d1 = (1.0 / s) * (x - d(x, i));
    Vec xNext = x + (next - s) * d1;
    if (next > 0) {
      const Vec d2 = (1.0 / next) * (xNext - d(xNext, i + 1));
      xNext = x + (next - s) * (0.5 * d1 + 0.5 * d2);
    }
    x = xNext;
  }
  return x;
}

Vec sampleDpmpp2m(const Denoiser& d, Vec x, const Vec& sigmas) {
  Vec old;
  for (std::size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const double s = sigmas[i], next = sigmas[i + 1];
    const Vec den = d(x, i);
    if (next == 0) return den;
    const double t = -std::log(s), tNext = -std::log(next), h = tNext - t;
    if (old.empty()) {
      x = (next / s) * x - std::expm1(-h) * den;
    } else {
      const double hLast = t + std::log(sigmas[i - 1]), r = hLast / h;
      const Vec mix = (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old;
      x = (next / s) * x - std::expm1(-h) * mix;
    }
    old = den;
  }
  return x;
}

// Evaluation points sigmas[0..n-1]; `noise(k)` is the noise drawn after evaluation k.
Vec sampleConsistency(const Denoiser& d, Vec x, const Vec& sigmas,
                      const std::function<Vec(std::size_t)>& noise) {
  x = d(x, 0);
  for (std::size_t k = 1; k < sigmas.size(); ++k) x = d(x + sigmas[k] * noise(k - 1), k);
  return x;
}

// --- diffusers, in VP space -------------------------------------------------------------------

struct Discrete {
  std::vector<double> alphas;  // alphas_cumprod
  std::vector<uint32_t> timesteps;
  const sampler::NoiseSchedule* schedule;
};

Vec predictX0(const sampler::NoiseSchedule& sch, const Vec& sample, const Vec& out, double a, Vec* eps) {
  Vec x0 = sch.prediction == Parameterization::Epsilon
               ? (1 / std::sqrt(a)) * (sample - std::sqrt(1 - a) * out)
               : std::sqrt(a) * sample - std::sqrt(1 - a) * out;
  if (eps)
    *eps = sch.prediction == Parameterization::Epsilon ? out : std::sqrt(a) * out + std::sqrt(1 - a) * sample;
  if (sch.clipSample)
    for (double& v : x0) v = std::clamp(v, -sch.clipSampleRange, sch.clipSampleRange);
  return x0;
}

// DDIMScheduler.step with eta = 0 over timesteps[first..]; returns the final sample and its alpha.
Vec ddim(Net& net, const Discrete& ds, std::size_t first, Vec sample, double& finalAlpha,
         const AfterStep& after) {
  const auto& sch = *ds.schedule;
  const int64_t ratio = sch.numTrainTimesteps / ds.timesteps.size();
  for (std::size_t k = first; k < ds.timesteps.size(); ++k) {
    const int64_t t = ds.timesteps[k], prev = t - ratio;
    const double a = ds.alphas[t];
    const double aPrev = prev >= 0 ? ds.alphas[prev] : (sch.setAlphaToOne ? 1.0 : ds.alphas[0]);
    Vec eps;
    const Vec x0 = predictX0(sch, sample, net(sample, double(t)), a, &eps);
    sample = std::sqrt(aPrev) * x0 + std::sqrt(1 - aPrev) * eps;
    if (after) after(sample, k, aPrev);
    finalAlpha = aPrev;
  }
  return sample;
}

// DDPMScheduler.step (fixed_small variance) over timesteps[first..].
Vec ddpm(Net& net, const Discrete& ds, std::size_t first, Vec sample,
         const std::function<Vec(std::size_t)>& noise) {
  const auto& sch = *ds.schedule;
  for (std::size_t k = first; k < ds.timesteps.size(); ++k) {
    const uint32_t t = ds.timesteps[k];
    const int64_t prev = k + 1 < ds.timesteps.size() ? int64_t(ds.timesteps[k + 1]) : -1;
    const double a = ds.alphas[t], aPrev = prev >= 0 ? ds.alphas[prev] : 1.0;
    const double alpha = a / aPrev, beta = 1 - alpha;
    const Vec x0 = predictX0(sch, sample, net(sample, double(t)), a, nullptr);
    const double c0 = std::sqrt(aPrev) * beta / (1 - a), c1 = std::sqrt(alpha) * (1 - aPrev) / (1 - a);
    sample = c0 * x0 + c1 * sample;
    if (t > 0) {
      const double variance = std::max((1 - aPrev) / (1 - a) * beta, 1e-20);
      sample = sample + std::sqrt(variance) * noise(k - first);
    }
  }
  return sample;
}

// --- one scenario -----------------------------------------------------------------------------

struct Scenario {
  const char* name;
  sampler::PlanInput in;
  Shape4 shape{2, 3, 5, 7};
};

struct GpuResult {
  std::vector<float> x;
  std::vector<std::vector<float>> netIn, timesteps;
};

GpuResult runOnGpu(const sampler::StagePlan& plan, Shape4 s, DType t, std::span<const uint64_t> seeds,
                   const std::vector<std::vector<float>>& netOut, uint32_t rows,
                   const std::vector<float>& init, const std::vector<float>& mask, bool inpaintInputs) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const std::size_t stages = plan.stages.size(), perRow = s.count() / s.n;
  TensorPool pool(gpu, 4 * s.count() * 6 + stages * (4 * rows * perRow * 2 + 2048) + 16384);
  sampler::SamplerState st = makeState(pool, s);
  for (const Tensor* tt : {&st.x, &st.e, &st.d, &st.p}) pool.poison(*tt);
  const Tensor tInit = pool.make(s, DType::F32), tMask = pool.make({s.n, 1, s.h, s.w}, DType::F32);
  pool.upload(tInit, init);
  pool.upload(tMask, mask);
  const std::vector<sampler::ItemParams> items = itemRows(seeds);
  Program prog(gpu);
  sampler::samplerStart(prog, GpuTest::kernels(), makeParams(pool, plan.start, items), st,
                        plan.fromInit || inpaintInputs ? &tInit : nullptr);
  std::vector<Tensor> netIns, tss;
  for (std::size_t k = 0; k < stages; ++k) {
    const BufferRef params = makeParams(pool, plan.stages[k], items);
    netIns.push_back(pool.make({rows, s.c, s.h, s.w}, t));
    tss.push_back(pool.make({rows, 1, 1, 1}, DType::F32));
    const Tensor out = pool.make({rows, s.c, s.h, s.w}, t);
    pool.poison(netIns.back());
    pool.poison(tss.back());
    pool.upload(out, netOut[k]);
    sampler::samplerPrepare(prog, GpuTest::kernels(), params, st.e, netIns.back(), tss.back());
    sampler::samplerUpdate(prog, GpuTest::kernels(), params, out, st, inpaintInputs ? &tInit : nullptr,
                           inpaintInputs ? &tMask : nullptr);
  }
  runProgram(gpu, prog);
  GpuResult r{pool.download(st.x), {}, {}};
  for (std::size_t k = 0; k < stages; ++k) {
    r.netIn.push_back(pool.download(netIns[k]));
    r.timesteps.push_back(pool.download(tss[k]));
  }
  return r;
}

void run(const Scenario& sc, DType t) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE(std::string(sc.name) + " " + dtypeName(t) + " seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Shape4 s = sc.shape;
  const sampler::PlanInput& in = sc.in;
  const sampler::StagePlan plan = sampler::plan(in);
  const std::size_t stages = plan.stages.size(), count = s.count();
  const bool guided = in.guidance != 1.0;
  const uint32_t rows = guided ? 2 * s.n : s.n;

  // The network's outputs (rounded to its storage type) and the guided F the sampler sees.
  std::vector<std::vector<float>> netOut;
  std::vector<Vec> f;
  for (std::size_t k = 0; k < stages; ++k) {
    netOut.push_back(roundTo(t, randomVector(rng, rows * count / s.n, -1.5f, 1.5f)));
    Vec fk(count);
    for (std::size_t i = 0; i < count; ++i)
      fk[i] = guided
                  ? double(netOut[k][i + count]) + in.guidance * (double(netOut[k][i]) - netOut[k][i + count])
                  : double(netOut[k][i]);
    f.push_back(fk);
  }
  const std::vector<uint64_t> seeds = randomSeeds(rng, s.n);
  const Vec init = toVec(randomVector(rng, count));
  std::vector<float> mask(count / s.c);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 == 0 ? 1.0f : i % 3 == 1 ? 0.0f : 0.25f;
  std::vector<uint32_t> streams = {0};
  for (uint32_t k = 0; k < stages; ++k) {
    streams.push_back(sampler::stageStream(k));
    streams.push_back(sampler::stageStream(k) + 1);
  }
  const std::vector<std::vector<float>> noise = batchNoise(seeds, streams, uint32_t(count / s.n));
  const auto z = [&](uint32_t stream) {
    return toVec(noise[std::find(streams.begin(), streams.end(), stream) - streams.begin()]);
  };
  const std::size_t plane = std::size_t(s.h) * s.w, perItem = s.c * plane;
  const auto keep = [&](std::size_t i) { return double(mask[(i / perItem) * plane + i % plane]); };
  // RePaint after step k: the known region at level sigma, from the stage's second stream.
  const auto blend = [&](Vec& x, std::size_t stage, double sigma, const Vec& known) {
    const Vec zk = z(sampler::stageStream(uint32_t(stage)) + 1);
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = keep(i) * (known[i] + sigma * zk[i]) + (1 - keep(i)) * x[i];
  };

  // The textbook run.
  Net net{f, {}, {}};
  Vec want;
  if (in.sampler == SamplerKind::Ddim || in.sampler == SamplerKind::Ddpm) {
    const Discrete ds{in.schedule->alphasCumprod(), sampler::diffusersTimesteps(*in.schedule, in.steps),
                      &*in.schedule};
    const std::size_t first = in.steps - stages;
    const double a0 = ds.alphas[ds.timesteps[first]];
    // Pure noise in VP space, or diffusers' add_noise of the init image.
    Vec sample = in.strength < 1 ? std::sqrt(a0) * init + std::sqrt(1 - a0) * z(0) : z(0);
    double finalAlpha = 1.0;
    if (in.sampler == SamplerKind::Ddim) {
      AfterStep after;
      if (in.inpaint)
        after = [&](Vec& x, std::size_t k, double aPrev) {  // add_noise(init, zk, t_prev) where kept
          const Vec zk = z(sampler::stageStream(uint32_t(k - first)) + 1);
          for (std::size_t i = 0; i < x.size(); ++i)
            x[i] =
                keep(i) * (std::sqrt(aPrev) * init[i] + std::sqrt(1 - aPrev) * zk[i]) + (1 - keep(i)) * x[i];
        };
      sample = ddim(net, ds, first, sample, finalAlpha, after);
    } else {
      sample =
          ddpm(net, ds, first, sample, [&](std::size_t k) { return z(sampler::stageStream(uint32_t(k))); });
    }
    want = (1 / std::sqrt(finalAlpha)) * sample;  // the VE state tessera keeps
  } else {
    // Noise levels of the steps kept, then 0.
    Vec sigmas;
    std::vector<double> cNoise;
    if (in.parameterization == Parameterization::Edm) {
      const Vec all =
          in.sigmas.empty() ? sampler::karrasSigmas(in.steps, in.sigmaMin, in.sigmaMax, in.rho) : in.sigmas;
      sigmas.assign(all.begin() + (in.steps - (in.sampler == SamplerKind::Heun ? (stages + 1) / 2 : stages)),
                    all.begin() + in.steps);
      for (double sg : sigmas) cNoise.push_back(std::log(sg) / 4);
    } else {
      const std::vector<double> ab = in.schedule->alphasCumprod();
      for (uint32_t tt : sampler::diffusersTimesteps(*in.schedule, in.steps)) {
        sigmas.push_back(std::sqrt((1 - ab[tt]) / ab[tt]));
        cNoise.push_back(tt);
      }
    }
    if (in.sampler != SamplerKind::Consistency) sigmas.push_back(0.0);
    const double sd = in.sigmaData;
    const Denoiser denoise = [&](const Vec& x, std::size_t level) {
      const double sg = sigmas[level];
      if (in.parameterization == Parameterization::Edm) {
        // EDM preconditioning (Karras et al. 2022, Table 1).
        const double cIn = 1 / std::sqrt(sg * sg + sd * sd), cSkip = sd * sd / (sg * sg + sd * sd),
                     cOut = sg * sd / std::sqrt(sg * sg + sd * sd);
        return cSkip * x + cOut * net(cIn * x, cNoise[level]);
      }
      // k-diffusion's DiscreteEpsDDPMDenoiser: x - sigma * eps(x / sqrt(sigma^2 + 1), t).
      return x - sg * net((1 / std::sqrt(sg * sg + 1)) * x, cNoise[level]);
    };
    Vec x = in.strength < 1 ? init + sigmas[0] * z(0) : sigmas[0] * z(0);
    switch (in.sampler) {
      case SamplerKind::Euler: {
        AfterStep after;
        if (in.inpaint) after = [&](Vec& v, std::size_t k, double next) { blend(v, k, next, init); };
        want = sampleEuler(denoise, x, sigmas, after);
        break;
      }
      case SamplerKind::Heun:
        want = sampleHeun(denoise, x, sigmas);
        break;
      case SamplerKind::DpmPP2M:
        want = sampleDpmpp2m(denoise, x, sigmas);
        break;
      case SamplerKind::Consistency:
        want = sampleConsistency(denoise, x, sigmas,
                                 [&](std::size_t k) { return z(sampler::stageStream(uint32_t(k))); });
        break;
      default:
        FAIL();
    }
  }
  ASSERT_EQ(net.inputs.size(), stages) << "evaluations";

  const GpuResult got = runOnGpu(plan, s, t, seeds, netOut, rows,
                                 std::vector<float>(init.begin(), init.end()), mask, in.inpaint);
  for (std::size_t k = 0; k < stages; ++k) {
    SCOPED_TRACE("evaluation " + std::to_string(k));
    Vec inputs(net.inputs[k]);
    if (guided) inputs.insert(inputs.end(), net.inputs[k].begin(), net.inputs[k].end());
    // The network input is stored in the network's type; the textbook's is exact.
    expectClose(got.netIn[k], inputs, t, "network input");
    for (uint32_t j = 0; j < rows; ++j)
      EXPECT_NEAR(got.timesteps[k][j], net.timesteps[k], 1e-6 * std::max(1.0, std::abs(net.timesteps[k])));
  }
  expectClose(got.x, want, DType::F32, "final state");
  if (in.inpaint) {
    // The last stage blends at sigma 0: the kept region is the init image, exactly.
    for (std::size_t i = 0; i < count; ++i) {
      if (keep(i) == 1.0) {
        ASSERT_EQ(got.x[i], float(init[i])) << "element " << i;
      }
    }
  }
}

sampler::PlanInput edm(SamplerKind k, uint32_t steps) {
  sampler::PlanInput in;
  in.sampler = k;
  in.steps = steps;
  in.sigmaData = 0.5;
  return in;
}

sampler::PlanInput discrete(SamplerKind k, uint32_t steps, sampler::NoiseSchedule sch) {
  sampler::PlanInput in;
  in.sampler = k;
  in.steps = steps;
  in.parameterization = sch.prediction;
  in.schedule = sch;
  return in;
}

sampler::NoiseSchedule schedule(Parameterization p, sampler::TimestepSpacing spacing, bool clip,
                                bool alphaToOne = true) {
  sampler::NoiseSchedule s;
  s.prediction = p;
  s.spacing = spacing;
  s.clipSample = clip;
  s.setAlphaToOne = alphaToOne;
  return s;
}

TEST_F(SamplerStepsTest, EdmSamplersMatchKDiffusion) {
  sampler::PlanInput consistency = edm(SamplerKind::Consistency, 3);
  consistency.sigmas = {80.0, 4.0, 0.7};
  sampler::PlanInput dpm = edm(SamplerKind::DpmPP2M, 5);
  dpm.sigmaMax = 20.0;
  const Scenario scenarios[] = {
      {"euler", edm(SamplerKind::Euler, 4)},
      {"heun", edm(SamplerKind::Heun, 4), {1, 13, 3, 5}},
      {"dpmpp_2m", dpm},
      {"consistency", consistency},
  };
  for (DType t : precisions())
    for (const Scenario& sc : scenarios) run(sc, t);
}

TEST_F(SamplerStepsTest, DdimMatchesDiffusersStep) {
  using sampler::TimestepSpacing;
  sampler::NoiseSchedule sd = schedule(Parameterization::Epsilon, TimestepSpacing::Leading, false, false);
  sd.betaSchedule = sampler::BetaSchedule::ScaledLinear;
  sd.betaStart = 0.00085;
  sd.betaEnd = 0.012;
  sd.stepsOffset = 1;
  const Scenario scenarios[] = {
      {"ddim epsilon",
       discrete(SamplerKind::Ddim, 4, schedule(Parameterization::Epsilon, TimestepSpacing::Leading, false))},
      {"ddim epsilon scaled_linear offset 1", discrete(SamplerKind::Ddim, 5, sd)},
      // linspace: the step's target t - T/N is not the next timestep evaluated
      {"ddim v clip linspace",
       discrete(SamplerKind::Ddim, 5,
                schedule(Parameterization::VPrediction, TimestepSpacing::Linspace, true, false))},
      {"ddim epsilon clip trailing",
       discrete(SamplerKind::Ddim, 3, schedule(Parameterization::Epsilon, TimestepSpacing::Trailing, true)),
       {1, 13, 3, 5}},
  };
  for (DType t : precisions())
    for (const Scenario& sc : scenarios) run(sc, t);
}

TEST_F(SamplerStepsTest, DdpmMatchesDiffusersStep) {
  using sampler::TimestepSpacing;
  const Scenario scenarios[] = {
      {"ddpm epsilon clip",
       discrete(SamplerKind::Ddpm, 4, schedule(Parameterization::Epsilon, TimestepSpacing::Leading, true))},
      {"ddpm v trailing",
       discrete(SamplerKind::Ddpm, 3,
                schedule(Parameterization::VPrediction, TimestepSpacing::Trailing, false))},
  };
  for (DType t : precisions())
    for (const Scenario& sc : scenarios) run(sc, t);
}

TEST_F(SamplerStepsTest, EdmSamplersOnADiscreteModelMatchKDiffusion) {
  using sampler::TimestepSpacing;
  const Scenario scenarios[] = {
      {"euler epsilon",
       discrete(SamplerKind::Euler, 4, schedule(Parameterization::Epsilon, TimestepSpacing::Leading, false))},
      {"heun epsilon",
       discrete(SamplerKind::Heun, 3, schedule(Parameterization::Epsilon, TimestepSpacing::Trailing, false))},
  };
  for (DType t : precisions())
    for (const Scenario& sc : scenarios) run(sc, t);
}

TEST_F(SamplerStepsTest, GuidanceStrengthAndInpainting) {
  sampler::PlanInput heun = edm(SamplerKind::Heun, 3);
  heun.guidance = 2.5;
  heun.classCount = 4;
  heun.nullClass = 3;
  sampler::PlanInput sdedit = edm(SamplerKind::DpmPP2M, 6);
  sdedit.strength = 0.6;  // the first kept step is first order again
  sampler::PlanInput paint = edm(SamplerKind::Euler, 5);
  paint.strength = 0.8;
  paint.inpaint = true;
  sampler::PlanInput ddimPaint = discrete(
      SamplerKind::Ddim, 4, schedule(Parameterization::Epsilon, sampler::TimestepSpacing::Leading, false));
  ddimPaint.inpaint = true;
  const Scenario scenarios[] = {
      {"heun guided", heun},
      {"dpmpp_2m strength 0.6", sdedit},
      {"euler inpaint strength 0.8", paint},
      {"ddim inpaint", ddimPaint},
  };
  for (DType t : precisions())
    for (const Scenario& sc : scenarios) run(sc, t);
}

}  // namespace
}  // namespace tessera::test
