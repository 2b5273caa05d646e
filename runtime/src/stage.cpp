#include "stage.hpp"

#include "ops/eltwise.hpp"
#include "sampler/cascade_condition.hpp"
#include "sampler/image_decode.hpp"
#include "sampler/image_mips.hpp"
#include "sampler/sampler_prepare.hpp"
#include "sampler/sampler_start.hpp"
#include "sampler/sampler_update.hpp"
#include "size_text.hpp"

#include <bit>
#include <cmath>


namespace tessera::runtime {
namespace {

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

constexpr uint32_t kMaxSteps = 1000;
// tools/train/sr.py SIGMA_AUG_MIN: the conditioning's label never goes below ln(0.002)/4.
constexpr double kSigmaAugMin = 0.002;


}  // namespace

uint64_t Stage::stateBytes(uint32_t channels, const StageExtent& e, bool residual, uint64_t align) {
  const uint64_t px = uint64_t(e.height) * e.width;
  return (residual ? 6 : 5) * alignUp(uint64_t(e.maxBatch) * channels * px * 4, align) +
         alignUp(uint64_t(e.maxBatch) * px * 4, align);
}

Stage::Stage(tsr_context_t& ctx, const model::ModelPackage& package, uint32_t index, const StageExtent& extent,
             const graph::UnetGraphOptions& graphOptions, uint64_t stateOffset, uint64_t baseIoEnd)
    : ctx_(ctx),
      package_(package),
      index_(index),
      extent_(extent),
      defaults_(modelDefaults(package)),
      gpu_(ctx.device->gpu()) {
  const model::UnetConfig& uc = package.layout().config;
  channels_ = index == 0 ? defaults_.imageChannels : uc.outChannels;
  const uint32_t wantIn = index == 0 ? channels_ : 2 * channels_;
  const uint32_t wantOut = defaults_.learnedVariance ? 2 * channels_ : channels_;
  if (uc.inChannels != wantIn || uc.outChannels != wantOut || channels_ > 4)
    fail(ErrorCode::Unsupported, "the model maps " + std::to_string(uc.inChannels) + " channels to " +
                                     std::to_string(uc.outChannels) + "; a texture model maps 1 to 4 channels to as many" +
                                     (index ? " (twice as many in, for a super-resolution stage)" : ""));
  classCount_ = uc.numClassEmbeds.value_or(0);
  fillPlanInput(package, defaults_, planInput_);
  planInput_.sigmas.reserve(kMaxSteps);
  planWorkspace_.reserve(kMaxSteps, planInput_.schedule ? planInput_.schedule->numTrainTimesteps : 0);
  plan_.stages.reserve(2 * kMaxSteps);
  plan_.sigmas.reserve(2 * kMaxSteps);
  plan_.cNoise.reserve(2 * kMaxSteps);
  const uint64_t align = Arena::offsetAlignment(gpu_);
  const uint64_t state = alignUp(uint64_t(extent.maxBatch) * channels_ * extent.height * extent.width * 4, align);
  graph_ = std::make_unique<graph::UnetGraph>(gpu_, *ctx.kernels, package, graphOptions);
  uint64_t at = stateOffset + (index == 0 ? graph_->extraScratchOffset() : baseIoEnd);
  for (uint64_t* o : {&x_, &e_, &d_, &p_, &init_}) {
    *o = at;
    at += state;
  }
  mask_ = at;
  u_ = at + alignUp(uint64_t(extent.maxBatch) * extent.height * extent.width * 4, align);
}

BufferRef Stage::scratch(uint64_t offset, uint64_t bytes) const {
  return graph_->arena().region(ArenaRegion::Scratch, offset, bytes);
}

Tensor Stage::fp32At(uint64_t offset, const Shape4& s) const {
  return Tensor{scratch(offset, s.count() * 4), DType::F32, s};
}

sampler::SamplerState Stage::state(uint32_t n, uint32_t h, uint32_t w) const {
  const Shape4 s{n, channels_, h, w};
  return {fp32At(x_, s), fp32At(e_, s), fp32At(d_, s), fp32At(p_, s)};
}

Tensor Stage::classValues(uint32_t netBatch, uint32_t height, uint32_t width) const {
  return graph_->io(netBatch, height, width).classValues;
}

uint32_t Stage::augmentationLabelBits() const {
  const double sigma = std::max(package_.metadata().tessera.condSigma.value_or(0.0), kSigmaAugMin);
  return std::bit_cast<uint32_t>(float(std::log(sigma) / 4));
}

const Program& Stage::netProgram(const NetKey& k, bool build) {
  auto it = netPrograms_.find(k);
  if (it != netPrograms_.end()) return *it->second;
  if (!build)
    fail(ErrorCode::Unsupported, "batch " + std::to_string(k.netBatch) + " at " + sizeStr(k.width, k.height) +
                                     " was not prepared at creation and the generator has TSR_GENERATOR_STRICT_SHAPES");
  auto p = graph_->buildProgram(k.netBatch, k.height, k.width, k.padding);
  return *netPrograms_.emplace(k, std::move(p)).first->second;
}

const Stage::SamplerPrograms& Stage::samplerPrograms(const SamplerKey& k, const SharedBuffers& sh, bool build) {
  auto it = samplerPrograms_.find(k);
  if (it != samplerPrograms_.end()) return it->second;
  if (!build)
    fail(ErrorCode::Unsupported, "batch " + std::to_string(k.n) + " at " + sizeStr(k.width, k.height) +
                                     " was not prepared at creation and the generator has TSR_GENERATOR_STRICT_SHAPES");
  vk::KernelCache& kernels = *ctx_.kernels;
  const sampler::SamplerState st = state(k.n, k.height, k.width);
  const Shape4 s{k.n, channels_, k.height, k.width};
  const Tensor init = fp32At(init_, s);
  const Tensor mask = fp32At(mask_, {k.n, 1, k.height, k.width});
  // The group's packed inputs are copied from staging to rawInit / rawMask before this runs.
  const uint64_t px = uint64_t(k.height) * k.width;
  const graph::UnetIO io = graph_->io(k.netBatch, k.height, k.width);
  BufferRef rawInit = sh.rawInit, rawMask = sh.rawMask;
  const uint64_t rawPx = px * k.inputFactor * k.inputFactor;
  rawInit.size = k.n * rawPx * 4;
  rawMask.size = alignUp(k.n * rawPx, 4);
  SamplerPrograms p;
  p.begin = std::make_unique<Program>(gpu_);
  if (k.init) sampler::imageDecode(*p.begin, kernels, rawInit, init, k.inputFactor);
  if (k.mask) sampler::maskDecode(*p.begin, kernels, rawMask, mask, k.inputFactor);
  if (k.init && residual()) ops::axpby(*p.begin, kernels, init, fp32At(u_, s), init, 1.0f, -1.0f);
  sampler::samplerStart(*p.begin, kernels, sh.params, st, k.init ? &init : nullptr);
  p.prepare = std::make_unique<Program>(gpu_);
  sampler::samplerPrepare(*p.prepare, kernels, sh.params, st.e, io.sample, io.timesteps,
                          classCount_ ? &io.classes : nullptr);
  p.update = std::make_unique<Program>(gpu_);
  sampler::samplerUpdate(*p.update, kernels, sh.params, io.output, st, k.mask ? &init : nullptr,
                         k.mask ? &mask : nullptr);
  if (residual()) {
    p.finish = std::make_unique<Program>(gpu_);
    ops::add(*p.finish, kernels, st.x, fp32At(u_, s), st.x);
  }
  p.encode = std::make_unique<Program>(gpu_);
  BufferRef pixels = sh.pixels;
  pixels.size = sampler::pixelBytes(k.format, k.n, k.height, k.width);
  sampler::imageEncode(*p.encode, kernels, st.x, pixels, k.format);
  // The whole chain; a group whose images want fewer levels records only the first dispatches.
  p.mips = std::make_unique<Program>(gpu_);
  const uint64_t align = Arena::offsetAlignment(gpu_);
  BufferRef chain = sh.mips;
  chain.size = sampler::mipChainBytes(k.format, k.n, k.height, k.width, align);
  sampler::imageMips(*p.mips, kernels, pixels, chain, k.format, k.n, k.height, k.width,
                     sampler::mipLevelCount(k.width, k.height), align);
  for (auto* q : {p.begin.get(), p.prepare.get(), p.update.get(), p.finish.get(), p.encode.get(), p.mips.get()})
    if (q) q->finalize();
  return samplerPrograms_.emplace(k, std::move(p)).first->second;
}

const Program& Stage::conditionProgram(const Stage& previous, uint32_t n, uint32_t height, uint32_t width,
                                       const SharedBuffers& sh, bool build) {
  const auto key = std::make_tuple(n, height, width);
  auto it = conditionPrograms_.find(key);
  if (it != conditionPrograms_.end()) return *it->second;
  if (!build)
    fail(ErrorCode::Unsupported, "stage " + std::to_string(index_) + ": batch " + std::to_string(n) + " at " +
                                     sizeStr(width, height) +
                                     " was not prepared at creation and the generator has TSR_GENERATOR_STRICT_SHAPES");
  const uint32_t f = scaleFactor();
  const uint32_t lh = height / f, lw = width / f;
  const Shape4 ls{n, channels_, lh, lw};
  BufferRef lowRef = sh.cond;
  lowRef.size = ls.count() * 4;
  const Tensor low{lowRef, DType::F32, ls};
  const sampler::SamplerState prev = previous.state(n, lh, lw);
  const graph::UnetIO io = graph_->io(n, height, width);
  auto p = std::make_unique<Program>(gpu_);
  vk::KernelCache& kernels = *ctx_.kernels;
  sampler::conditionNoise(*p, kernels, sh.params, prev.x, low,
                          float(package_.metadata().tessera.condSigma.value_or(0.0)), conditionStream(index_));
  sampler::upsamplePeriodic(*p, kernels, low, io.sample, f, channels_);
  if (residual())  // U in fp32 for the state's space, whatever the network's storage type
    sampler::upsamplePeriodic(*p, kernels, low, fp32At(u_, {n, channels_, height, width}), f, 0);
  p->finalize();
  return *conditionPrograms_.emplace(key, std::move(p)).first->second;
}

Stage::Request Stage::ownRequest(float strength, bool inpaint) const {
  Request r{};
  const tsr_sampler s = defaults_.sampler;
  r.sampler = s == TSR_SAMPLER_EULER         ? sampler::SamplerKind::Euler
              : s == TSR_SAMPLER_HEUN        ? sampler::SamplerKind::Heun
              : s == TSR_SAMPLER_CONSISTENCY ? sampler::SamplerKind::Consistency
                                             : sampler::SamplerKind::DpmPP2M;
  r.steps = defaults_.steps;
  r.guidance = 1.0f;
  r.strength = strength;
  r.inpaint = inpaint;
  return r;
}

const sampler::StagePlan& Stage::plan(const Request& r) {
  const auto& t = package_.metadata().tessera;
  sampler::PlanInput& in = planInput_;
  in.sampler = r.sampler;
  in.steps = r.steps;
  in.sigmas.clear();
  if (r.sampler == sampler::SamplerKind::Consistency && !in.consistency) {
    const auto found = t.stepSigmas.find(r.steps);
    if (found == t.stepSigmas.end()) {
      std::string known;
      for (const auto& [n, v] : t.stepSigmas) known += (known.empty() ? "" : ", ") + std::to_string(n);
      fail(ErrorCode::Unsupported, (index_ ? "stage " + std::to_string(index_) + ": " : std::string()) +
                                       "consistency sampling with " + std::to_string(r.steps) +
                                       " steps: the model lists step sigmas for " +
                                       (known.empty() ? std::string("no step count (it is not distilled)") : known));
    }
    in.sigmas.assign(found->second.begin(), found->second.end());
  }
  in.strength = r.strength;
  in.inpaint = r.inpaint;
  in.guidance = r.guidance;
  sampler::plan(in, planWorkspace_, plan_);
  const uint32_t offset = stageStreamOffset(index_);
  plan_.start.stream |= offset;
  for (sampler::StageParams& row : plan_.stages) row.stream |= offset;
  return plan_;
}

}  // namespace tessera::runtime
