#include "generator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "image_output.hpp"
#include "output_barriers.hpp"
#include "sampler/image_decode.hpp"
#include "sampler/image_mips.hpp"
#include "sampler/sampler_prepare.hpp"
#include "sampler/sampler_start.hpp"
#include "sampler/sampler_update.hpp"

namespace tessera::runtime {
namespace {

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

constexpr uint32_t kMaxSteps = 1000;
// Network evaluations per image of a job that the job's tables hold without growing; a longer
// job grows them once (and they keep that size).
constexpr std::size_t kReservedEvaluations = 64;

std::string sizeStr(uint32_t w, uint32_t h) { return std::to_string(w) + "x" + std::to_string(h); }

uint32_t mipCount(uint32_t w, uint32_t h) {
  uint32_t n = 1;
  while ((w | h) >> n) ++n;
  return n;
}

sampler::SamplerKind kindOf(int32_t s) {
  switch (s) {
    case TSR_SAMPLER_EULER: return sampler::SamplerKind::Euler;
    case TSR_SAMPLER_HEUN: return sampler::SamplerKind::Heun;
    case TSR_SAMPLER_DPMPP_2M: return sampler::SamplerKind::DpmPP2M;
    case TSR_SAMPLER_DDIM: return sampler::SamplerKind::Ddim;
    case TSR_SAMPLER_DDPM: return sampler::SamplerKind::Ddpm;
    case TSR_SAMPLER_CONSISTENCY: return sampler::SamplerKind::Consistency;
    default: break;
  }
  fail(ErrorCode::InvalidArgument, "sampler " + std::to_string(s) + " is not a tsr_sampler value");
}

sampler::PixelFormat pixelFormatOf(int32_t f) {
  switch (f) {
    case VK_FORMAT_R8G8B8A8_SRGB:
    case VK_FORMAT_R8G8B8A8_UNORM: return sampler::PixelFormat::Rgba8;
    case VK_FORMAT_R16G16B16A16_SFLOAT: return sampler::PixelFormat::Rgba16F;
    default: break;
  }
  fail(ErrorCode::Unsupported, "output format " + std::to_string(f) +
                                   " is not supported (VK_FORMAT_R8G8B8A8_SRGB, _UNORM or R16G16B16A16_SFLOAT)");
}

uint32_t pixelSize(sampler::PixelFormat f) { return f == sampler::PixelFormat::Rgba8 ? 4 : 8; }

}  // namespace

// ---- configuration ----------------------------------------------------------------------------

GeneratorConfig generatorConfig(const tsr_context_t& ctx, const model::ModelPackage& package,
                                const tsr_generator_desc& desc, HostMemoryBlock blocks[2]) {
  const ModelDefaults d = modelDefaults(package);
  const vk::Gpu& gpu = ctx.device->gpu();
  GeneratorConfig c;
  const uint32_t native = d.nativeSize ? d.nativeSize : 64;
  c.maxWidth = desc.max_width ? desc.max_width : native;
  c.maxHeight = desc.max_height ? desc.max_height : native;
  c.maxBatch = desc.max_batch ? desc.max_batch : 1;
  const uint32_t m = d.sizeMultiple;
  if (c.maxWidth % m || c.maxHeight % m)
    fail(ErrorCode::InvalidArgument, "max size " + sizeStr(c.maxWidth, c.maxHeight) +
                                         " is not a multiple of " + std::to_string(m) + ", as this model needs");
  if (c.maxWidth > 16384 || c.maxHeight > 16384)
    fail(ErrorCode::InvalidArgument, "max size " + sizeStr(c.maxWidth, c.maxHeight) + " exceeds 16384");
  if (c.maxBatch > 256) fail(ErrorCode::InvalidArgument, "max_batch " + std::to_string(c.maxBatch) + " exceeds 256");
  switch (const int32_t precision = enumValue(desc.precision)) {
    case TSR_PRECISION_AUTO: c.dtype = gpu.facts.storage16 ? DType::F16 : DType::F32; break;
    case TSR_PRECISION_FP32: c.dtype = DType::F32; break;
    case TSR_PRECISION_FP16:
      if (!gpu.facts.storage16)
        fail(ErrorCode::DeviceFeatureMissing, "TSR_PRECISION_FP16 needs storageBuffer16BitAccess, which " +
                                                  gpu.facts.name + " does not have enabled");
      c.dtype = DType::F16;
      break;
    default: fail(ErrorCode::InvalidArgument, "precision " + std::to_string(precision) + " is unknown");
  }
  if (desc.flags & ~uint32_t(TSR_GENERATOR_STRICT_SHAPES | TSR_GENERATOR_NO_GUIDANCE))
    fail(ErrorCode::InvalidArgument, "unknown generator flags " + std::to_string(desc.flags));
  c.guidance = d.guidanceCapable && !(desc.flags & TSR_GENERATOR_NO_GUIDANCE);
  c.strictShapes = desc.flags & TSR_GENERATOR_STRICT_SHAPES;
  if (desc.prepared_shape_count && !desc.prepared_shapes)
    fail(ErrorCode::InvalidArgument, "prepared_shape_count is set but prepared_shapes is NULL");
  for (uint32_t i = 0; i < desc.prepared_shape_count; ++i) {
    const tsr_shape& s = desc.prepared_shapes[i];
    const std::string what = "prepared shape " + std::to_string(i) + " (" + sizeStr(s.width, s.height) + " batch " +
                             std::to_string(s.batch) + ")";
    if (!s.width || !s.height || !s.batch || s.width % m || s.height % m)
      fail(ErrorCode::InvalidArgument, what + ": sizes must be non-zero multiples of " + std::to_string(m));
    if (s.width > c.maxWidth || s.height > c.maxHeight || s.batch > c.maxBatch)
      fail(ErrorCode::InvalidArgument, what + " exceeds the maxima " + sizeStr(c.maxWidth, c.maxHeight) +
                                           " batch " + std::to_string(c.maxBatch));
    c.prepared.push_back(s);
  }
  if (c.prepared.empty()) {
    c.prepared.push_back({c.maxWidth, c.maxHeight, c.maxBatch});
    if (c.maxBatch > 1) c.prepared.push_back({c.maxWidth, c.maxHeight, 1});
  }
  if (bool(desc.device_memory) != bool(desc.staging_memory))
    fail(ErrorCode::InvalidArgument, "device_memory and staging_memory are given together or not at all");
  if (desc.device_memory) {
    for (int k = 0; k < 2; ++k) {
      const tsr_memory_block& b = k == 0 ? *desc.device_memory : *desc.staging_memory;
      blocks[k] = HostMemoryBlock{b.memory, b.offset, b.size, b.memory_type_index, b.mapped};
    }
    c.deviceMemory = &blocks[0];
    c.stagingMemory = &blocks[1];
  }
  return c;
}

// ---- layout shared by query() and the constructor --------------------------------------------

namespace {

struct SamplerSizes {
  uint64_t scratch = 0, staging = 0;
};

// Offsets relative to the start of the caller's scratch range (the sampler's state) and of
// staging; `align` is the device's storage-buffer offset alignment.
template <class Layout>
SamplerSizes layoutSampler(Layout& l, uint32_t channels, uint32_t maxBatch, uint32_t h, uint32_t w, uint64_t align) {
  const uint64_t px = uint64_t(h) * w;
  const uint64_t state = alignUp(uint64_t(maxBatch) * channels * px * 4, align);
  uint64_t at = 0;
  for (uint64_t* o : {&l.x, &l.e, &l.d, &l.p, &l.init}) {
    *o = at;
    at += state;
  }
  l.mask = at;
  at += alignUp(uint64_t(maxBatch) * px * 4, align);
  l.params = at;
  at += alignUp(sampler::paramsBytes(maxBatch), align);
  l.pixels = at;
  at += alignUp(sampler::pixelBytes(sampler::PixelFormat::Rgba16F, maxBatch, h, w), align);
  l.mips = at;  // the largest chain holds any smaller one (sampler::mipChainBytes)
  at += alignUp(sampler::mipChainBytes(sampler::PixelFormat::Rgba16F, maxBatch, h, w, align), align);
  l.rawInit = at;
  at += alignUp(uint64_t(maxBatch) * px * 4, align);
  l.rawMask = at;
  at += alignUp(uint64_t(maxBatch) * px, align);
  SamplerSizes s;
  s.scratch = at;
  // Staging: the progress word; the job's init images and masks, packed group after group and
  // copied to rawInit / rawMask when the group starts; one host-memory output slot per image.
  l.progress = 0;
  l.inputs = align;
  l.masks = l.inputs + alignUp(uint64_t(maxBatch) * px * 4, align);
  l.outputs = l.masks + alignUp(uint64_t(maxBatch) * px, align);
  l.slotOutput = alignUp(px * 8, 16);
  s.staging = l.outputs + maxBatch * l.slotOutput;
  return s;
}

graph::UnetGraphOptions graphOptions(const GeneratorConfig& c, uint32_t netBatch, const SamplerSizes& s) {
  graph::UnetGraphOptions o;
  o.batch = netBatch;
  o.height = c.maxHeight;
  o.width = c.maxWidth;
  o.dtype = c.dtype;
  o.deviceIO = true;
  o.deferWeightUpload = true;  // creation submits nothing: the first job's recording copies them
  o.extraScratchBytes = s.scratch;
  o.extraStagingBytes = s.staging;
  o.deviceMemory = c.deviceMemory;
  o.stagingMemory = c.stagingMemory;
  return o;
}

}  // namespace

tsr_memory_requirements Generator::query(tsr_context_t& ctx, const model::ModelPackage& package,
                                         const GeneratorConfig& config) {
  const vk::Gpu& gpu = ctx.device->gpu();
  Layout l{};
  const SamplerSizes s = layoutSampler(l, package.layout().config.outChannels, config.maxBatch, config.maxHeight,
                                       config.maxWidth, Arena::offsetAlignment(gpu));
  graph::UnetGraphOptions o = graphOptions(config, config.maxBatch * (config.guidance ? 2 : 1), s);
  o.planOnly = true;
  o.deviceMemory = o.stagingMemory = nullptr;
  std::lock_guard lock(ctx.mutex);
  graph::UnetGraph plan(gpu, *ctx.kernels, package, o);
  const ArenaSizes& sizes = plan.arenaSizes();
  const ArenaRequirements req = Arena::requiredBytes(gpu, sizes);
  tsr_memory_requirements r{};
  r.struct_size = sizeof(r);
  r.device_bytes = req.device.size;
  r.device_alignment = req.device.alignment;
  r.device_memory_type_bits = req.device.memoryTypeBits;
  r.staging_bytes = req.staging.size;
  r.staging_alignment = req.staging.alignment;
  r.staging_memory_type_bits = req.staging.memoryTypeBits;
  r.weight_bytes = sizes.weights;
  r.activation_bytes = sizes.activations;
  r.sampler_bytes = sizes.scratch;
  return r;
}

// ---- creation ---------------------------------------------------------------------------------

Generator::Generator(tsr_context_t& ctx, const model::ModelPackage& package, const GeneratorConfig& config)
    : ctx_(ctx), package_(package), config_(config), defaults_(modelDefaults(package)), gpu_(ctx.device->gpu()) {
  const model::UnetConfig& uc = package.layout().config;
  channels_ = uc.outChannels;
  if (uc.inChannels != uc.outChannels || channels_ > 4)
    fail(ErrorCode::Unsupported, "the model maps " + std::to_string(uc.inChannels) + " channels to " +
                                     std::to_string(uc.outChannels) + "; a texture model maps 1 to 4 channels to as many");
  classCount_ = uc.numClassEmbeds.value_or(0);
  if (defaults_.kind != ModelKind::Edm)
    schedule_ = sampler::NoiseSchedule::fromJson(*package.metadata().trainingNoiseSchedule);
  planInput_.schedule = schedule_;
  planInput_.sigmas.reserve(kMaxSteps);
  planWorkspace_.reserve(kMaxSteps, schedule_ ? schedule_->numTrainTimesteps : 0);
  plan_.stages.reserve(2 * kMaxSteps);
  plan_.sigmas.reserve(2 * kMaxSteps);
  plan_.cNoise.reserve(2 * kMaxSteps);
  const SamplerSizes s = layoutSampler(layout_, channels_, config.maxBatch, config.maxHeight, config.maxWidth,
                                       Arena::offsetAlignment(gpu_));
  {
    std::lock_guard lock(ctx.mutex);  // kernels and the queue (the weights' upload)
    graph_ = std::make_unique<graph::UnetGraph>(gpu_, *ctx.kernels,  package,
                                                graphOptions(config, config.maxBatch * (config.guidance ? 2 : 1), s));
    for (const tsr_shape& shape : config.prepared) prepareShape(shape);
  }
  const uint32_t n = config.maxBatch;
  items_.reserve(n);
  groups_.reserve(n);
  groupRows_.reserve(n);
  itemRows_.resize(n);
  rows_.reserve(n * (kReservedEvaluations + 1));
  work_.reserve(n * (kReservedEvaluations * 5 + 6));

  const auto& fn = gpu_.fn;
  VkCommandPoolCreateInfo pi{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  pi.queueFamilyIndex = gpu_.queueFamily;
  TESSERA_VK_CHECK(fn.vkCreateCommandPool(gpu_.device, &pi, nullptr, &pool_));
  VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VkFenceCreateInfo fi{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  try {
    TESSERA_VK_CHECK(fn.vkAllocateCommandBuffers(gpu_.device, &ai, &cmd_));
    TESSERA_VK_CHECK(fn.vkCreateFence(gpu_.device, &fi, nullptr, &fence_));
  } catch (...) {
    fn.vkDestroyCommandPool(gpu_.device, pool_, nullptr);
    throw;
  }
}

Generator::~Generator() {
  const auto& fn = gpu_.fn;
  if (state_ == State::Submitted) fn.vkWaitForFences(gpu_.device, 1, &fence_, VK_TRUE, UINT64_MAX);
  if (fence_) fn.vkDestroyFence(gpu_.device, fence_, nullptr);
  if (pool_) fn.vkDestroyCommandPool(gpu_.device, pool_, nullptr);
}

void Generator::prepareShape(const tsr_shape& shape) {
  const uint32_t nets[] = {shape.batch, config_.guidance ? 2 * shape.batch : 0};
  for (uint32_t nb : nets) {
    if (!nb) continue;
    for (ops::Padding pad : {ops::Padding::Zeros, ops::Padding::Circular}) netProgram({nb, shape.height, shape.width, pad}, true);
    for (bool init : {false, true})
      for (bool mask : {false, true}) {
        if (mask && !init) continue;
        for (auto f : {sampler::PixelFormat::Rgba8, sampler::PixelFormat::Rgba16F})
          samplerPrograms({shape.batch, nb, shape.height, shape.width, init, mask, f}, true);
      }
  }
}

BufferRef Generator::scratch(uint64_t offset, uint64_t bytes) const {
  return graph_->arena().region(ArenaRegion::Scratch, graph_->extraScratchOffset() + offset, bytes);
}

BufferRef Generator::staging(uint64_t offset, uint64_t bytes) const {
  return graph_->arena().region(ArenaRegion::Staging, offset, bytes);
}

sampler::SamplerState Generator::state(uint32_t n, uint32_t h, uint32_t w) const {
  const Shape4 s{n, channels_, h, w};
  auto t = [&](uint64_t off) {
    return Tensor{scratch(off, s.count() * 4), DType::F32, s};
  };
  return {t(layout_.x), t(layout_.e), t(layout_.d), t(layout_.p)};
}

const Program& Generator::netProgram(const NetKey& k, bool build) {
  auto it = netPrograms_.find(k);
  if (it != netPrograms_.end()) return *it->second;
  if (!build)
    fail(ErrorCode::Unsupported, "batch " + std::to_string(k.netBatch) + " at " + sizeStr(k.width, k.height) +
                                     " was not prepared at creation and the generator has TSR_GENERATOR_STRICT_SHAPES");
  auto p = graph_->buildProgram(k.netBatch, k.height, k.width, k.padding);
  return *netPrograms_.emplace(k, std::move(p)).first->second;
}

const Generator::SamplerPrograms& Generator::samplerPrograms(const SamplerKey& k, bool build) {
  auto it = samplerPrograms_.find(k);
  if (it != samplerPrograms_.end()) return it->second;
  if (!build)
    fail(ErrorCode::Unsupported, "batch " + std::to_string(k.n) + " at " + sizeStr(k.width, k.height) +
                                     " was not prepared at creation and the generator has TSR_GENERATOR_STRICT_SHAPES");
  vk::KernelCache& kernels = *ctx_.kernels;
  const sampler::SamplerState st = state(k.n, k.height, k.width);
  const BufferRef params = scratch(layout_.params, sampler::paramsBytes(config_.maxBatch));
  const Shape4 s{k.n, channels_, k.height, k.width};
  const Tensor init{scratch(layout_.init, s.count() * 4), DType::F32, s};
  const Shape4 ms{k.n, 1, k.height, k.width};
  const Tensor mask{scratch(layout_.mask, ms.count() * 4), DType::F32, ms};
  // The group's packed inputs are copied from staging to rawInit / rawMask before this runs.
  const uint64_t px = uint64_t(k.height) * k.width;
  const graph::UnetIO io = graph_->io(k.netBatch, k.height, k.width);
  SamplerPrograms p;
  p.begin = std::make_unique<Program>(gpu_);
  if (k.init) sampler::imageDecode(*p.begin, kernels, scratch(layout_.rawInit, k.n * px * 4), init);
  if (k.mask) sampler::maskDecode(*p.begin, kernels, scratch(layout_.rawMask, alignUp(k.n * px, 4)), mask);
  sampler::samplerStart(*p.begin, kernels, params, st, k.init ? &init : nullptr);
  p.prepare = std::make_unique<Program>(gpu_);
  sampler::samplerPrepare(*p.prepare, kernels, params, st.e, io.sample, io.timesteps,
                          classCount_ ? &io.classes : nullptr);
  p.update = std::make_unique<Program>(gpu_);
  sampler::samplerUpdate(*p.update, kernels, params, io.output, st, k.mask ? &init : nullptr,
                         k.mask ? &mask : nullptr);
  p.encode = std::make_unique<Program>(gpu_);
  sampler::imageEncode(*p.encode, kernels, st.x, scratch(layout_.pixels, sampler::pixelBytes(k.format, k.n, k.height, k.width)),
                       k.format);
  // The whole chain; a group whose images want fewer levels records only the first dispatches.
  p.mips = std::make_unique<Program>(gpu_);
  const uint64_t align = Arena::offsetAlignment(gpu_);
  sampler::imageMips(*p.mips, kernels, scratch(layout_.pixels, sampler::pixelBytes(k.format, k.n, k.height, k.width)),
                     scratch(layout_.mips, sampler::mipChainBytes(k.format, k.n, k.height, k.width, align)), k.format,
                     k.n, k.height, k.width, sampler::mipLevelCount(k.width, k.height), align);
  for (auto* q : {p.begin.get(), p.prepare.get(), p.update.get(), p.encode.get(), p.mips.get()}) q->finalize();
  return samplerPrograms_.emplace(k, std::move(p)).first->second;
}


// ---- a job ------------------------------------------------------------------------------------

bool Generator::Item::sameGroup(const Item& o) const {
  return width == o.width && height == o.height && sampler == o.sampler && steps == o.steps &&
         guidance == o.guidance && strength == o.strength && padding == o.padding && format == o.format &&
         init == o.init && mask == o.mask;
}

void Generator::requireState(State s, const char* what) const {
  if (state_ == s) return;
  static const char* names[] = {"no job", "a begun job", "a recorded job", "a submitted job"};
  fail(state_ == State::Submitted || (s == State::Idle && state_ != State::Idle) ? ErrorCode::Busy
                                                                                 : ErrorCode::InvalidArgument,
       std::string(what) + " needs " + names[int(s)] + ", but the generator has " + names[int(state_)]);
}

Generator::Item Generator::normalize(const tsr_request& r) const {
  Item it{};
  it.request = &r;
  it.output = r.output;
  it.width = r.width ? r.width : config_.maxWidth;
  it.height = r.height ? r.height : config_.maxHeight;
  const uint32_t m = defaults_.sizeMultiple;
  if (it.width % m || it.height % m)
    fail(ErrorCode::InvalidArgument, "size " + sizeStr(it.width, it.height) + " is not a multiple of " +
                                         std::to_string(m) + ", as this model needs");
  if (it.width > config_.maxWidth || it.height > config_.maxHeight)
    fail(ErrorCode::OutOfArena, "size " + sizeStr(it.width, it.height) + " exceeds the " +
                                    sizeStr(config_.maxWidth, config_.maxHeight) +
                                    " the generator's arena was built for (max_width, max_height)");
  const auto& t = package_.metadata().tessera;
  const uint32_t named = uint32_t(t.classes.size());
  if (r.class_index < -1)
    fail(ErrorCode::InvalidArgument, "class_index " + std::to_string(r.class_index) + " (use -1 for unconditional)");
  if (r.class_index < 0) {
    if (classCount_ && !t.nullClass)
      fail(ErrorCode::InvalidArgument, "class_index -1 (unconditional) needs a model with a null class");
    it.classLabel = t.nullClass.value_or(0);
  } else {
    const uint32_t limit = named ? named : classCount_;
    if (uint32_t(r.class_index) >= std::max<uint32_t>(limit, classCount_ ? 0 : 1))
      fail(ErrorCode::InvalidArgument, "class_index " + std::to_string(r.class_index) + " is outside [0, " +
                                           std::to_string(limit) + ") for this model");
    it.classLabel = uint32_t(r.class_index);
  }
  it.seed = r.seed;
  const int32_t requested = enumValue(r.sampler);
  it.sampler = kindOf(requested == TSR_SAMPLER_DEFAULT ? int32_t(defaults_.sampler) : requested);
  const tsr_sampler s = requested == TSR_SAMPLER_DEFAULT ? defaults_.sampler : tsr_sampler(requested);
  it.steps = r.steps ? r.steps : defaultSteps(package_, defaults_, s);
  if (it.steps > kMaxSteps)
    fail(ErrorCode::InvalidArgument, "steps " + std::to_string(it.steps) + " exceeds " + std::to_string(kMaxSteps));
  it.guidance = r.guidance < 0 ? defaults_.guidance : r.guidance;
  if (!std::isfinite(it.guidance) || it.guidance > 100)
    fail(ErrorCode::InvalidArgument, "guidance " + std::to_string(r.guidance) + " is outside [0, 100]");
  if (it.guidance != 1.0f) {
    if (!defaults_.guidanceCapable)
      fail(ErrorCode::Unsupported, "guidance " + std::to_string(it.guidance) +
                                       " needs a model with a null class; this one has none (use 1)");
    if (!config_.guidance)
      fail(ErrorCode::InvalidArgument, "guidance " + std::to_string(it.guidance) +
                                           " on a generator created with TSR_GENERATOR_NO_GUIDANCE (use 1)");
  }
  switch (const int32_t tiling = enumValue(r.tiling)) {
    case TSR_TILING_DEFAULT:
      it.padding = t.paddingMode == model::PaddingMode::Circular ? ops::Padding::Circular : ops::Padding::Zeros;
      break;
    case TSR_TILING_TILEABLE: it.padding = ops::Padding::Circular; break;
    case TSR_TILING_PLAIN: it.padding = ops::Padding::Zeros; break;
    default: fail(ErrorCode::InvalidArgument, "tiling " + std::to_string(tiling) + " is unknown");
  }
  it.init = r.init_rgba != nullptr;
  it.mask = r.mask != nullptr;
  it.strength = it.init ? r.strength : 1.0f;
  if (it.init && !(r.strength >= 0.0f && r.strength <= 1.0f))
    fail(ErrorCode::InvalidArgument, "strength " + std::to_string(r.strength) + " is outside [0, 1]");
  if (it.mask && !it.init)
    fail(ErrorCode::InvalidArgument, "a mask needs an init image (init_rgba) whose kept region it marks");
  if (it.init && channels_ != 3 && channels_ != 4)
    fail(ErrorCode::Unsupported, "init images need an RGB or RGBA model");
  const tsr_output& o = r.output;
  it.format = pixelFormatOf(enumValue(o.format));
  switch (const int32_t kind = enumValue(o.kind)) {
    case TSR_OUTPUT_HOST_MEMORY:
      if (!o.pixels) fail(ErrorCode::InvalidArgument, "output.pixels is NULL (TSR_OUTPUT_HOST_MEMORY)");
      if (o.row_pitch && o.row_pitch < size_t(it.width) * pixelSize(it.format))
        fail(ErrorCode::InvalidArgument, "output.row_pitch " + std::to_string(o.row_pitch) + " is below a row's " +
                                             std::to_string(it.width * pixelSize(it.format)) + " bytes");
      break;
    case TSR_OUTPUT_BUFFER:
      if (!o.buffer) fail(ErrorCode::InvalidArgument, "output.buffer is VK_NULL_HANDLE (TSR_OUTPUT_BUFFER)");
      break;
    case TSR_OUTPUT_IMAGE: {
      if (!o.image) fail(ErrorCode::InvalidArgument, "output.image is VK_NULL_HANDLE (TSR_OUTPUT_IMAGE)");
      it.output.final_layout = imageReaders(enumValue(o.final_layout)).layout;
      const uint32_t most = mipCount(it.width, it.height);
      if (o.mip_levels == 0 || o.mip_levels > most)
        fail(ErrorCode::InvalidArgument, "output.mip_levels " + std::to_string(o.mip_levels) + " is outside [1, " +
                                             std::to_string(most) + "] for " + sizeStr(it.width, it.height));
      VkFormatProperties fp{};
      gpu_.fn.vkGetPhysicalDeviceFormatProperties(gpu_.physicalDevice, o.format, &fp);
      // Mips are made by compute shaders and copied like level 0 (image_output.hpp): copies only.
      if (!(fp.optimalTilingFeatures & VK_FORMAT_FEATURE_TRANSFER_DST_BIT))
        fail(ErrorCode::DeviceFeatureMissing,
             "the device cannot copy into an optimal-tiling image of format " + std::to_string(int(o.format)));
      break;
    }
    default: fail(ErrorCode::InvalidArgument, "output.kind " + std::to_string(kind) + " is unknown");
  }
  return it;
}

void Generator::begin(const tsr_request* requests, uint32_t count) {
  requireState(State::Idle, "tsr_generator_begin");
  if (!requests || count == 0) fail(ErrorCode::InvalidArgument, "a job needs at least one request");
  if (count > config_.maxBatch)
    fail(ErrorCode::OutOfArena, "a job of " + std::to_string(count) + " requests exceeds the generator's max_batch " +
                                    std::to_string(config_.maxBatch));
  // A refused job leaves the previous one's progress as it was.
  const uint32_t lastTotal = evaluationsTotal_, lastDone = evaluationsDone_;
  const double lastWork = workTotal_;
  const bool lastCompleted = completed_;
  try {
    beginJob(requests, count);
  } catch (...) {
    items_.clear();
    groups_.clear();
    evaluationsTotal_ = lastTotal;
    evaluationsDone_ = lastDone;
    workTotal_ = workRecorded_ = lastWork;
    completed_ = lastCompleted;
    throw;
  }
}

void Generator::beginJob(const tsr_request* requests, uint32_t count) {
  items_.clear();
  groups_.clear();
  groupRows_.clear();
  rows_.clear();
  work_.clear();
  evaluationsTotal_ = evaluationsDone_ = 0;
  workTotal_ = workRecorded_ = 0;
  completed_ = false;
  for (uint32_t i = 0; i < count; ++i) {
    try {
      const tsr_request& r = requests[i];
      if (r.struct_size < sizeof(tsr_request))
        fail(ErrorCode::InvalidArgument, "struct_size is " + std::to_string(r.struct_size) +
                                             "; fill the request with tsr_request_defaults");
      items_.push_back(normalize(r));
      items_.back().index = i;
    } catch (const Error& e) {
      throw Error(e.code(), "request " + std::to_string(i) + ": " + e.what());
    }
  }
  // Group compatible requests, keeping request order within a group: each item moves to just
  // after the last earlier item of its group (in place; n <= max_batch).
  for (std::size_t i = 1; i < items_.size(); ++i) {
    std::size_t last = i;
    for (std::size_t k = 0; k < i; ++k)
      if (items_[k].sameGroup(items_[i])) last = k;
    if (last != i && last + 1 < i)
      std::rotate(items_.begin() + long(last) + 1, items_.begin() + long(i), items_.begin() + long(i) + 1);
  }
  uint64_t initAt = layout_.inputs, maskAt = layout_.masks;
  auto* base = static_cast<std::byte*>(graph_->arena().stagingMapped());
  for (uint32_t i = 0; i < items_.size();) {
    Group g{};
    g.first = i;
    g.count = 1;
    while (i + g.count < items_.size() && items_[i + g.count].sameGroup(items_[i])) ++g.count;
    const Item& it = items_[i];
    g.width = it.width;
    g.height = it.height;
    const uint32_t nb = it.guidance != 1.0f ? 2 * g.count : g.count;
    const bool build = !config_.strictShapes;
    {
      std::lock_guard lock(ctx_.mutex);  // building programs uses the shared kernel cache
      g.net = &netProgram({nb, it.height, it.width, it.padding}, build);
      g.sampler = &samplerPrograms({g.count, nb, it.height, it.width, it.init, it.mask, it.format}, build);
    }
    const uint64_t px = uint64_t(it.width) * it.height;
    g.initAt = initAt;
    g.maskAt = maskAt;
    for (uint32_t k = 0; k < g.count; ++k) {
      const Item& m = items_[i + k];
      itemRows_[i + k] = sampler::itemParams(m.seed, m.classLabel);
      if (m.init) std::memcpy(base + initAt + k * px * 4, m.request->init_rgba, px * 4);
      if (m.mask) std::memcpy(base + maskAt + k * px, m.request->mask, px);
    }
    if (it.init) initAt += g.count * px * 4;
    if (it.mask) maskAt += alignUp(g.count * px, 4);
    groups_.push_back(g);
    try {
      planGroup(groups_.size() - 1);
    } catch (const Error& e) {
      throw Error(e.code(), "request " + std::to_string(it.index) + ": " + e.what());
    }
    i += g.count;
  }
  std::memset(base + layout_.progress, 0, 4);
  graph_->arena().flushStaging(0, layout_.outputs);
  cursor_ = dispatchCursor_ = 0;
  slices_ = 0;
  evaluationsRecorded_ = 0;
  state_ = State::Begun;
}

void Generator::planGroup(std::size_t gi) {
  Group& g = groups_[gi];
  const Item& it = items_[g.first];
  const auto& t = package_.metadata().tessera;
  sampler::PlanInput& in = planInput_;
  in.sampler = it.sampler;
  in.steps = it.steps;
  in.parameterization = defaults_.kind == ModelKind::Edm       ? sampler::Parameterization::Edm
                        : defaults_.kind == ModelKind::Epsilon ? sampler::Parameterization::Epsilon
                                                               : sampler::Parameterization::VPrediction;
  if (t.sigmaData) in.sigmaData = *t.sigmaData;
  if (t.sigmaMin) in.sigmaMin = *t.sigmaMin;
  if (t.sigmaMax) in.sigmaMax = *t.sigmaMax;
  if (t.rho) in.rho = *t.rho;
  in.sigmas.clear();
  if (it.sampler == sampler::SamplerKind::Consistency) {
    const auto found = t.stepSigmas.find(it.steps);
    if (found == t.stepSigmas.end()) {
      std::string known;
      for (const auto& [n, v] : t.stepSigmas) known += (known.empty() ? "" : ", ") + std::to_string(n);
      fail(ErrorCode::Unsupported, "consistency sampling with " + std::to_string(it.steps) +
                                       " steps: the model lists step sigmas for " +
                                       (known.empty() ? std::string("no step count (it is not distilled)") : known));
    }
    in.sigmas.assign(found->second.begin(), found->second.end());
  }
  in.strength = it.strength;
  in.inpaint = it.mask;
  in.guidance = it.guidance;
  in.classCount = classCount_;
  in.nullClass = t.nullClass.value_or(0);
  sampler::plan(in, planWorkspace_, plan_);
  const sampler::StagePlan& plan = plan_;
  g.startRow = rows_.size();
  rows_.push_back(plan.start);
  for (const sampler::StageParams& r : plan.stages) rows_.push_back(r);
  groupRows_.push_back(uint32_t(plan.stages.size()));

  const uint32_t gidx = uint32_t(gi);
  work_.push_back({WorkKind::Inputs, gidx, nullptr});
  work_.push_back({WorkKind::Row, uint32_t(g.startRow), nullptr});
  work_.push_back({WorkKind::Dispatches, 0, g.sampler->begin.get()});
  for (std::size_t k = 0; k < plan.stages.size(); ++k) {
    work_.push_back({WorkKind::Row, uint32_t(g.startRow + 1 + k), nullptr});
    work_.push_back({WorkKind::Dispatches, 0, g.sampler->prepare.get()});
    work_.push_back({WorkKind::Dispatches, 0, g.net});
    work_.push_back({WorkKind::Dispatches, 0, g.sampler->update.get()});
    work_.push_back({WorkKind::Progress, ++evaluationsTotal_, nullptr});
  }
  work_.push_back({WorkKind::Dispatches, 0, g.sampler->encode.get()});
  work_.push_back({WorkKind::Outputs, gidx, nullptr});
  auto units = [](const Program& p) {
    double c = 0;
    for (std::size_t i = 0; i < p.size(); ++i) c += p.cost(i);
    return c / 1e6;
  };
  const double perEvaluation = units(*g.sampler->prepare) + units(*g.net) + units(*g.sampler->update);
  workTotal_ += units(*g.sampler->begin) + units(*g.sampler->encode) + perEvaluation * double(plan.stages.size());
}

void Generator::barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags srcAccess,
                        VkPipelineStageFlags dst, VkAccessFlags dstAccess) const {
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = srcAccess;
  b.dstAccessMask = dstAccess;
  gpu_.fn.vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &b, 0, nullptr, 0, nullptr);
}

namespace {
constexpr VkPipelineStageFlags kWork = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kAll = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                               VK_ACCESS_TRANSFER_WRITE_BIT;
}  // namespace

void Generator::recordWork(VkCommandBuffer cmd, const Work& w) {
  const auto& fn = gpu_.fn;
  switch (w.kind) {
    case WorkKind::Inputs: {
      const Group& g = groups_[w.index];
      const Item& it = items_[g.first];
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef items = scratch(layout_.params + sampler::kItemsOffset, g.count * sizeof(sampler::ItemParams));
      fn.vkCmdUpdateBuffer(cmd, items.buffer, items.offset, items.size, &itemRows_[g.first]);
      const uint64_t px = uint64_t(g.width) * g.height;
      if (it.init) {
        const BufferRef src = staging(g.initAt, g.count * px * 4), dst = scratch(layout_.rawInit, src.size);
        const VkBufferCopy c{src.offset, dst.offset, src.size};
        fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &c);
      }
      if (it.mask) {
        const BufferRef src = staging(g.maskAt, alignUp(g.count * px, 4)), dst = scratch(layout_.rawMask, src.size);
        const VkBufferCopy c{src.offset, dst.offset, src.size};
        fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &c);
      }
      break;
    }
    case WorkKind::Row: {
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef row = scratch(layout_.params + sampler::kStageOffset, sizeof(sampler::StageParams));
      fn.vkCmdUpdateBuffer(cmd, row.buffer, row.offset, row.size, &rows_[w.index]);
      break;
    }
    case WorkKind::Progress: {
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef word = staging(layout_.progress, 4);
      fn.vkCmdFillBuffer(cmd, word.buffer, word.offset, 4, w.index);
      barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
              VK_ACCESS_HOST_READ_BIT);
      evaluationsRecorded_ = w.index;
      break;
    }
    case WorkKind::Outputs: recordOutputs(cmd, groups_[w.index]); break;
    case WorkKind::Dispatches: w.program->record(cmd); break;
  }
}

void Generator::recordOutputs(VkCommandBuffer cmd, const Group& g) {
  const auto& fn = gpu_.fn;
  uint32_t levels = 1;
  for (uint32_t k = 0; k < g.count; ++k) {
    const tsr_output& o = items_[g.first + k].output;
    if (o.kind == TSR_OUTPUT_IMAGE) levels = std::max(levels, o.mip_levels);
  }
  if (levels > 1) g.sampler->mips->record(cmd, 0, levels - 1);
  barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
  bool host = false, buffer = false;
  for (uint32_t k = 0; k < g.count; ++k) {
    const Item& it = items_[g.first + k];
    const tsr_output& o = it.output;
    const uint64_t bytes = uint64_t(it.width) * it.height * pixelSize(it.format);
    const BufferRef src = scratch(layout_.pixels + k * bytes, bytes);
    if (o.kind == TSR_OUTPUT_HOST_MEMORY) {
      const BufferRef dst = staging(layout_.outputs + uint64_t(g.first + k) * layout_.slotOutput, bytes);
      const VkBufferCopy c{src.offset, dst.offset, bytes};
      fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &c);
      host = true;
    } else if (o.kind == TSR_OUTPUT_BUFFER) {
      const VkBufferCopy c{src.offset, o.offset, bytes};
      fn.vkCmdCopyBuffer(cmd, src.buffer, o.buffer, 1, &c);
      buffer = true;
    } else {
      const uint64_t align = Arena::offsetAlignment(gpu_);
      const BufferRef level0 = scratch(layout_.pixels, g.count * bytes);
      const BufferRef chain = scratch(layout_.mips, sampler::mipChainBytes(it.format, g.count, g.height, g.width, align));
      recordImageOutput(fn, cmd, o, {level0, chain, it.format, g.count, k, it.width, it.height, align});
    }
  }
  if (host)
    barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT);
  if (buffer)
    barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, bufferReaders().stages,
            bufferReaders().access);
}

// ---- recording --------------------------------------------------------------------------------

bool Generator::recordSlice(VkCommandBuffer cmd, double budget) {
  if (state_ != State::Begun) requireState(State::Begun, "recording");
  if (!cmd) fail(ErrorCode::InvalidArgument, "command buffer is VK_NULL_HANDLE");
  if (!(budget > 0)) fail(ErrorCode::InvalidArgument, "budget must be positive");
  // Whatever the host recorded before us in this command buffer is visible to our first command.
  barrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_MEMORY_WRITE_BIT, kWork, kAll);
  if (cursor_ == 0 && dispatchCursor_ == 0 && !graph_->weightsUploaded()) graph_->recordWeightUpload(cmd);
  const double units = budget * 1e6;  // one unit: a million floating-point operations
  double spent = 0;
  bool any = false;
  while (cursor_ < work_.size()) {
    const Work& w = work_[cursor_];
    if (w.kind != WorkKind::Dispatches) {
      recordWork(cmd, w);
      ++cursor_;
      continue;
    }
    const Program& p = *w.program;
    const std::size_t first = dispatchCursor_;
    std::size_t end = first;
    while (end < p.size()) {
      const double c = p.cost(end);
      if (any && spent + c > units) break;
      spent += c;
      workRecorded_ += c / 1e6;
      any = true;
      ++end;
    }
    if (end > first) p.record(cmd, first, end - first);
    dispatchCursor_ = end;
    if (end < p.size()) return ++slices_, false;
    dispatchCursor_ = 0;
    ++cursor_;
  }
  ++slices_;
  state_ = State::Recorded;
  return true;
}

void Generator::record(VkCommandBuffer cmd) {
  requireState(State::Begun, "tsr_generator_record");
  recordSlice(cmd, 1e300);
}

uint32_t Generator::readProgress() const {
  graph_->arena().invalidateStaging(layout_.progress, 4);
  uint32_t v = 0;
  std::memcpy(&v, static_cast<const std::byte*>(graph_->arena().stagingMapped()) + layout_.progress, 4);
  return v;
}

void Generator::finishJob() {
  auto* base = static_cast<const std::byte*>(graph_->arena().stagingMapped());
  graph_->arena().invalidateStaging(layout_.outputs, items_.size() * layout_.slotOutput);
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const Item& it = items_[i];
    const tsr_output& o = it.output;
    if (o.kind != TSR_OUTPUT_HOST_MEMORY) continue;
    const std::size_t row = std::size_t(it.width) * pixelSize(it.format);
    const std::size_t pitch = o.row_pitch ? o.row_pitch : row;
    for (uint32_t y = 0; y < it.height; ++y)
      std::memcpy(static_cast<std::byte*>(o.pixels) + y * pitch, base + layout_.outputs + i * layout_.slotOutput + y * row,
                  row);
  }
  items_.clear();
  graph_->markWeightsUploaded();  // the job that carried them has run
  evaluationsDone_ = evaluationsTotal_;
  completed_ = true;
  state_ = State::Idle;
}

void Generator::complete() {
  requireState(State::Recorded, "tsr_generator_complete");
  finishJob();
}

void Generator::cancel() {
  if (state_ == State::Submitted)
    fail(ErrorCode::Busy, "tsr_generator_cancel: the job was submitted; wait for it instead");
  // One recording call that recorded everything can be thrown away by the host; after several
  // slices tessera cannot tell which of them the host submitted (and is running).
  if (state_ != State::Idle && (slices_ > 1 || (slices_ == 1 && state_ == State::Begun)))
    fail(ErrorCode::Busy, "the job was recorded in " + std::to_string(slices_) +
                              " slice(s) so far and the host may have submitted some of them, which tessera cannot "
                              "tell; record the rest (tsr_generator_record_slice until done), submit it and "
                              "complete the job, or destroy the generator");
  items_.clear();
  state_ = State::Idle;
}

void Generator::submit() {
  requireState(State::Begun, "tsr_generator_submit");
  if (cursor_ != 0 || dispatchCursor_ != 0)
    fail(ErrorCode::InvalidArgument, "tsr_generator_submit: part of the job was already recorded in slices");
  const auto& fn = gpu_.fn;
  TESSERA_VK_CHECK(fn.vkResetCommandBuffer(cmd_, 0));
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  TESSERA_VK_CHECK(fn.vkBeginCommandBuffer(cmd_, &bi));
  recordSlice(cmd_, 1e300);
  TESSERA_VK_CHECK(fn.vkEndCommandBuffer(cmd_));
  TESSERA_VK_CHECK(fn.vkResetFences(gpu_.device, 1, &fence_));
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd_;
  {
    std::lock_guard lock(ctx_.mutex);  // Vulkan requires a queue to be used by one thread at a time
    TESSERA_VK_CHECK(fn.vkQueueSubmit(gpu_.queue, 1, &si, fence_));
  }
  state_ = State::Submitted;
}

bool Generator::wait(uint64_t timeoutNs) {
  if (state_ == State::Idle && completed_) return true;  // already waited for
  requireState(State::Submitted, "tsr_generator_wait");
  const VkResult r = gpu_.fn.vkWaitForFences(gpu_.device, 1, &fence_, VK_TRUE, timeoutNs);
  if (r == VK_TIMEOUT) return false;
  TESSERA_VK_CHECK(r);
  finishJob();
  return true;
}

bool Generator::poll() {
  if (state_ == State::Idle && completed_) return true;  // already seen complete
  requireState(State::Submitted, "tsr_generator_query");
  const VkResult r = gpu_.fn.vkGetFenceStatus(gpu_.device, fence_);
  if (r == VK_NOT_READY) return false;
  TESSERA_VK_CHECK(r);
  finishJob();
  return true;
}

tsr_progress Generator::progress() const {
  tsr_progress p{};
  p.struct_size = sizeof(p);
  p.evaluations_total = evaluationsTotal_;
  p.evaluations_recorded = state_ == State::Idle ? evaluationsDone_ : evaluationsRecorded_;
  p.evaluations_done = state_ == State::Idle ? evaluationsDone_ : std::min(readProgress(), evaluationsRecorded_);
  p.recorded = state_ == State::Recorded || state_ == State::Submitted || completed_ ? VK_TRUE : VK_FALSE;
  p.complete = completed_ ? VK_TRUE : VK_FALSE;
  p.work_total = workTotal_;
  p.work_recorded = completed_ ? workTotal_ : workRecorded_;
  return p;
}

}  // namespace tessera::runtime
