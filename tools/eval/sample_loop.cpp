#include "sample_loop.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "device.hpp"
#include "error.hpp"
#include "eval_inputs.hpp"
#include "file_io.hpp"
#include "model_defaults.hpp"
#include "model_package.hpp"
#include "safetensors.hpp"
#include "sampler/schedule.hpp"
#include "vk/kernel.hpp"

namespace tessera::tools {
namespace {

model::SafeTensorIn f32(const std::string& name, std::vector<uint64_t> shape, const std::vector<double>& v) {
  model::SafeTensorIn t;
  t.name = name;
  t.shape = std::move(shape);
  t.data.resize(v.size() * 4);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const float x = float(v[i]);
    std::memcpy(t.data.data() + 4 * i, &x, 4);
  }
  return t;
}

// The factor from tessera's VE state X to the scheduler's own sample: diffusers' DDPM and DDIM
// keep x_vp = X / sqrt(1 + sigma^2); Euler and CM keep X itself.
double toSchedulerSample(sampler::SamplerKind k, double sigma) {
  const bool vp = k == sampler::SamplerKind::Ddim || k == sampler::SamplerKind::Ddpm;
  return vp ? 1.0 / std::sqrt(1.0 + sigma * sigma) : 1.0;
}

}  // namespace

uint32_t runSampleLoop(const SampleLoopOptions& o) {
  const model::ModelPackage package = model::ModelPackage::readFile(o.model);
  if (!package.stages().empty())
    fail(ErrorCode::Unsupported, "--sample runs a one-stage package; this one is a cascade");
  const runtime::ModelDefaults d = runtime::modelDefaults(package);
  const std::vector<std::byte> bytes = model::readFileBytes(o.input, uint64_t(4) << 30);
  const model::SafetensorsFile in = model::SafetensorsFile::parse(model::asBytes(bytes));
  const model::SafeTensor* noise = in.find("noise");
  const uint32_t c = d.imageChannels;
  if (!noise || noise->shape.size() != 4 || noise->shape[1] != c)
    fail(ErrorCode::InvalidArgument, "the input needs `noise` [N, " + std::to_string(c) + ", H, W]");
  const uint32_t n = uint32_t(noise->shape[0]), h = uint32_t(noise->shape[2]), w = uint32_t(noise->shape[3]);
  const std::size_t count = std::size_t(n) * c * h * w;
  const std::vector<float> z0 = model::toFloat32(*noise);

  sampler::PlanInput pin;
  runtime::fillPlanInput(package, d, pin);
  const tsr_sampler api = o.sampler.empty() ? d.sampler : runtime::samplerByName(o.sampler);
  pin.sampler = runtime::samplerKind(api);
  pin.steps = o.steps ? o.steps : runtime::defaultSteps(package, d, api);
  const auto& t = package.metadata().tessera;
  if (pin.sampler == sampler::SamplerKind::Consistency && !pin.consistency) {
    const auto found = t.stepSigmas.find(pin.steps);
    if (found == t.stepSigmas.end())
      fail(ErrorCode::Unsupported, "the model lists no consistency step sigmas for " + std::to_string(pin.steps) + " steps");
    pin.sigmas = found->second;
  }
  const sampler::StagePlan plan = sampler::plan(pin);
  const uint32_t stages = uint32_t(plan.stages.size());

  std::vector<float> stepNoise;
  if (const model::SafeTensor* sn = in.find("step_noise")) {
    if (sn->shape.size() != 5 || sn->shape[0] < stages || sn->shape[1] != n || sn->shape[2] != c ||
        sn->shape[3] != h || sn->shape[4] != w)
      fail(ErrorCode::InvalidArgument, "`step_noise` must be [S >= " + std::to_string(stages) + ", " +
                                           std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) +
                                           ", " + std::to_string(w) + "]");
    stepNoise = model::toFloat32(*sn);
  }
  std::vector<int64_t> labels;
  if (const model::SafeTensor* y = in.find("class_labels")) {
    if (!pin.classCount) fail(ErrorCode::InvalidArgument, "`class_labels` given, but the model has no class embedding");
    labels = classLabels(*y);
    if (labels.size() != n) fail(ErrorCode::InvalidArgument, "`class_labels` needs one label per image");
  } else if (pin.classCount) {
    fail(ErrorCode::InvalidArgument, "the model is class-conditional: the input needs `class_labels`");
  }

  runtime::StandaloneOptions dopts;
  dopts.deviceSelector = o.device;
  std::unique_ptr<runtime::Device> dev = runtime::Device::createStandalone(dopts);
  vk::KernelCache kernels(dev->gpu());
  graph::UnetGraphOptions gopt = o.graph;
  gopt.batch = n;
  gopt.height = h;
  gopt.width = w;
  graph::UnetGraph net(dev->gpu(), kernels, package, gopt);
  const uint32_t outC = net.outputShape().c;

  // samplerStart: X = E = sigmaX * z, D = P = 0 (from noise; --sample does not take an init image).
  std::vector<double> x(count), e(count), dn(count, 0.0), p(count, 0.0);
  for (std::size_t i = 0; i < count; ++i) x[i] = e[i] = double(plan.start.sigmaX) * z0[i];
  std::vector<model::SafeTensorIn> outs;
  const std::vector<uint64_t> shape = {n, c, h, w};
  {
    std::vector<double> s0(count);
    // The start is at the first stage's noise level.
    const double k = toSchedulerSample(pin.sampler, plan.sigmas.empty() ? 0.0 : plan.sigmas[0]);
    for (std::size_t i = 0; i < count; ++i) s0[i] = x[i] * k;
    outs.push_back(f32("sample_init", shape, s0));
  }
  std::vector<double> timesteps;
  std::vector<float> netIn(count), tIn(1);
  for (uint32_t k = 0; k < stages; ++k) {
    const sampler::StageParams& r = plan.stages[k];
    for (std::size_t i = 0; i < count; ++i) netIn[i] = float(double(r.cIn) * e[i]);
    tIn[0] = r.cNoise;
    timesteps.push_back(r.cNoise);
    const std::vector<float> f = net.run({netIn, tIn, labels, {}});
    const bool needZ = r.x[4] != 0 || r.e[4] != 0;
    if (needZ && stepNoise.empty())
      fail(ErrorCode::InvalidArgument, "step " + std::to_string(k) + " draws fresh noise: give `step_noise`");
    const std::size_t perItem = std::size_t(c) * h * w, netPerItem = std::size_t(outC) * h * w;
    std::vector<double> modelOut(f.begin(), f.end());
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t item = i / perItem, index = i % perItem;
      const double fv = f[item * netPerItem + index];
      double zs = needZ ? double(stepNoise[std::size_t(k) * count + i]) : 0.0;
      if (r.flags & (sampler::kLearnedVariance | sampler::kLearnedRange)) {
        const double v = f[item * netPerItem + perItem + index];
        const double frac = 0.5 * (v + 1.0);
        zs *= (r.flags & sampler::kLearnedRange) ? std::exp(0.5 * (frac * r.maxLog + (1 - frac) * r.minLog))
                                                 : std::sqrt(std::max(v, 0.0));
      }
      double dv = double(r.cSkip) * e[i] + double(r.cOut) * fv;
      if (r.flags & sampler::kClipDenoised) dv = std::clamp(dv, -double(r.clipRange), double(r.clipRange));
      const double xn = r.x[0] * x[i] + r.x[1] * dv + r.x[2] * p[i] + r.x[3] * e[i] + r.x[4] * zs + r.fX * fv;
      const double en = r.e[0] * x[i] + r.e[1] * dv + r.e[2] * p[i] + r.e[3] * e[i] + r.e[4] * zs + r.fE * fv;
      x[i] = xn;
      e[i] = en;
      dn[i] = dv;
      if (r.flags & sampler::kStoreDenoised) p[i] = dv;
    }
    const double scale = toSchedulerSample(pin.sampler, r.sigmaX);
    std::vector<double> sample(count);
    for (std::size_t i = 0; i < count; ++i) sample[i] = x[i] * scale;
    const std::string key = std::to_string(k);
    outs.push_back(f32("model_output." + key, {n, outC, h, w}, modelOut));
    outs.push_back(f32("denoised." + key, shape, dn));
    outs.push_back(f32("sample." + key, shape, sample));
  }
  outs.push_back(f32("timesteps", {uint64_t(stages)}, timesteps));
  const std::vector<std::byte> file =
      model::writeSafetensors(outs, {{"format", "pt"}, {"sampler", sampler::samplerName(pin.sampler)},
                                     {"steps", std::to_string(pin.steps)}});
  model::writeFileAtomically(o.output, model::asBytes(file));
  return stages;
}

}  // namespace tessera::tools
