#include "generator.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/byte_io.hpp"
#include "output_barriers.hpp"
#include "pipeline_layout.hpp"
#include "sampler/sampler_params.hpp"
#include "size_text.hpp"

namespace tessera::runtime {

using model::alignUp;

namespace {

constexpr uint32_t kMaxSteps = 1000;
// Network evaluations per image of a job that the job's tables hold without growing; a longer
// job grows them once (and they keep that size).
constexpr std::size_t kReservedEvaluations = 64;

uint32_t mipCount(uint32_t w, uint32_t h) {
  uint32_t n = 1;
  while ((w | h) >> n) ++n;
  return n;
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

}  // namespace

tsr_memory_requirements Generator::query(tsr_context_t& ctx, const model::ModelPackage& package,
                                         const GeneratorConfig& config) {
  const vk::Gpu& gpu = ctx.device->gpu();
  std::lock_guard lock(ctx.mutex);
  const PipelineLayout l = layoutPipeline(ctx, package, config);
  graph::UnetGraphOptions o = baseGraphOptions(config, l);
  o.planOnly = true;
  o.deviceMemory = o.stagingMemory = nullptr;
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
  channels_ = defaults_.imageChannels;
  classCount_ = uc.numClassEmbeds.value_or(0);
  {
    std::lock_guard lock(ctx.mutex);  // kernels and the queue (the weights' upload)
    const PipelineLayout l = layoutPipeline(ctx, package, config);
    // Offsets in the scratch region count from the end of the base's device IO (x0).
    stages_.push_back(std::make_unique<Stage>(ctx, package, 0, l.stage[0], baseGraphOptions(config, l), l.stateAt[0], 0));
    const uint64_t x0 = stages_[0]->graph().extraScratchOffset();
    Arena& a = stages_[0]->graph().arena();
    const uint64_t baseWeights = alignUp(stages_[0]->graph().weightBytes(), Arena::offsetAlignment(gpu_));
    for (uint32_t k = 1; k < l.extents.count; ++k) {
      graph::UnetGraphOptions o = stageGraphOptions(config, l.stage[k]);
      o.sharedArena = &a;
      o.weightsOffset = baseWeights + l.weightsAt[k];
      o.scratchOffset = x0 + l.ioAt[k];
      o.deferWeightUpload = true;  // creation submits nothing, for any stage
      o.weightStagingOffset = l.stageWeightsStaging + l.weightsAt[k];
      stages_.push_back(std::make_unique<Stage>(ctx, package.stages()[k - 1], k, l.stage[k], o, l.stateAt[k], x0));
    }
    layout_ = {x0 + l.params, x0 + l.pixels, x0 + l.mips, x0 + l.rawInit, x0 + l.rawMask, x0 + l.cond,
               l.progress, l.inputs, l.masks, l.outputs, l.slotOutput};
    shared_.params = scratch(layout_.params, sampler::paramsBytes(config.maxBatch));
    shared_.rawInit = scratch(layout_.rawInit, 4);
    shared_.rawMask = scratch(layout_.rawMask, 4);
    shared_.pixels = scratch(layout_.pixels, 4);
    shared_.mips = scratch(layout_.mips, 4);
    shared_.cond = scratch(layout_.cond, 4);
    for (const tsr_shape& shape : config.prepared) prepareShape(shape);
  }
  const uint32_t n = config.maxBatch;
  items_.reserve(n);
  groups_.reserve(n);
  itemRows_.resize(n);
  rows_.reserve(n * (kReservedEvaluations + 1) * stages_.size());
  work_.reserve(n * (kReservedEvaluations * 5 + 10) * stages_.size());

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
  const CascadeSizes sizes = cascadeSizes(package_, shape.width, shape.height);
  for (uint32_t k = 0; k < sizes.count; ++k) {
    Stage& st = *stages_[k];
    const uint32_t h = sizes.height[k], w = sizes.width[k];
    const uint32_t nets[] = {shape.batch, k == 0 && config_.guidance ? 2 * shape.batch : 0};
    const uint32_t inputFactor = shape.width / w;
    for (uint32_t nb : nets) {
      if (!nb) continue;
      for (ops::Padding pad : {ops::Padding::Zeros, ops::Padding::Circular}) st.netProgram({nb, h, w, pad}, true);
      for (bool init : {false, true})
        for (bool mask : {false, true}) {
          if (mask && !init) continue;
          for (auto f : {sampler::PixelFormat::Rgba8, sampler::PixelFormat::Rgba16F})
            st.samplerPrograms({shape.batch, nb, h, w, init, mask, f, init ? inputFactor : 1}, shared_, true);
        }
    }
    if (k > 0) st.conditionProgram(*stages_[k - 1], shape.batch, h, w, shared_, true);
  }
}

std::size_t Generator::programCount() const {
  std::size_t n = 0;
  for (const auto& s : stages_) n += s->programCount();
  return n;
}

BufferRef Generator::scratch(uint64_t offset, uint64_t bytes) const {
  return arena().region(ArenaRegion::Scratch, offset, bytes);
}

BufferRef Generator::staging(uint64_t offset, uint64_t bytes) const {
  return arena().region(ArenaRegion::Staging, offset, bytes);
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
  it.sizes = cascadeSizes(package_, it.width, it.height);
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
  it.sampler = samplerKind(requested == TSR_SAMPLER_DEFAULT ? int32_t(defaults_.sampler) : requested);
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
      if (o.row_pitch && o.row_pitch < sampler::pixelBytes(it.format, 1, 1, it.width))
        fail(ErrorCode::InvalidArgument, "output.row_pitch " + std::to_string(o.row_pitch) + " is below a row's " +
                                             std::to_string(sampler::pixelBytes(it.format, 1, 1, it.width)) + " bytes");
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
  auto* base = static_cast<std::byte*>(arena().stagingMapped());
  for (uint32_t i = 0; i < items_.size();) {
    Group g{};
    g.first = i;
    g.count = 1;
    while (i + g.count < items_.size() && items_[i + g.count].sameGroup(items_[i])) ++g.count;
    const Item& it = items_[i];
    g.width = it.width;
    g.height = it.height;
    const bool build = !config_.strictShapes;
    g.stageCount = it.sizes.count;
    {
      std::lock_guard lock(ctx_.mutex);  // building programs uses the shared kernel cache
      for (uint32_t k = 0; k < g.stageCount; ++k) {
        Stage& st = *stages_[k];
        const uint32_t h = it.sizes.height[k], w = it.sizes.width[k];
        const uint32_t nb = k == 0 && it.guidance != 1.0f ? 2 * g.count : g.count;
        StageRun& run = g.stages[k];
        run.net = &st.netProgram({nb, h, w, it.padding}, build);
        const uint32_t inputFactor = it.init ? it.width / w : 1;  // each stage decodes the host's image at its size
        run.sampler =
            &st.samplerPrograms({g.count, nb, h, w, it.init, it.mask, it.format, inputFactor}, shared_, build);
        run.condition = k ? &st.conditionProgram(*stages_[k - 1], g.count, h, w, shared_, build) : nullptr;
        run.classValues = k ? st.classValues(nb, h, w).ref : BufferRef{};
      }
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
  arena().flushStaging(0, layout_.outputs);
  cursor_ = dispatchCursor_ = 0;
  slices_ = 0;
  evaluationsRecorded_ = 0;
  state_ = State::Begun;
}

void Generator::planGroup(std::size_t gi) {
  Group& g = groups_[gi];
  const Item& it = items_[g.first];
  const uint32_t gidx = uint32_t(gi);
  work_.push_back({WorkKind::Inputs, gidx, nullptr});
  auto units = [](const Program& p) {
    double c = 0;
    for (std::size_t i = 0; i < p.size(); ++i) c += p.cost(i);
    return c / 1e6;
  };
  // Stage after stage: each one's start, evaluations and (after the base) the conditioning
  // from the stage before; only the last one's state is encoded.
  for (uint32_t k = 0; k < g.stageCount; ++k) {
    Stage& st = *stages_[k];
    StageRun& run = g.stages[k];
    // Every stage starts from the init image at the request's strength and keeps its masked
    // region; the later stages run their packages' own sampler and steps.
    const Stage::Request req = k == 0 ? Stage::Request{it.sampler, it.steps, it.guidance, it.strength, it.mask}
                                      : st.ownRequest(it.strength, it.mask);
    const sampler::StagePlan& plan = st.plan(req);
    if (k > 0) {
      work_.push_back({WorkKind::Fill, gidx, nullptr, k});
      work_.push_back({WorkKind::Dispatches, 0, run.condition});
      workTotal_ += units(*run.condition);
    }
    run.startRow = rows_.size();
    rows_.push_back(plan.start);
    for (const sampler::StageParams& r : plan.stages) rows_.push_back(r);
    work_.push_back({WorkKind::Row, uint32_t(run.startRow), nullptr});
    work_.push_back({WorkKind::Dispatches, 0, run.sampler->begin.get()});
    for (std::size_t e = 0; e < plan.stages.size(); ++e) {
      work_.push_back({WorkKind::Row, uint32_t(run.startRow + 1 + e), nullptr});
      work_.push_back({WorkKind::Dispatches, 0, run.sampler->prepare.get()});
      work_.push_back({WorkKind::Dispatches, 0, run.net});
      work_.push_back({WorkKind::Dispatches, 0, run.sampler->update.get()});
      work_.push_back({WorkKind::Progress, ++evaluationsTotal_, nullptr});
    }
    if (run.sampler->finish) {
      work_.push_back({WorkKind::Dispatches, 0, run.sampler->finish.get()});
      workTotal_ += units(*run.sampler->finish);
    }
    const double perEvaluation = units(*run.sampler->prepare) + units(*run.net) + units(*run.sampler->update);
    workTotal_ += units(*run.sampler->begin) + perEvaluation * double(plan.stages.size());
  }
  const StageRun& last = g.stages[g.stageCount - 1];
  work_.push_back({WorkKind::Dispatches, 0, last.sampler->encode.get()});
  work_.push_back({WorkKind::Outputs, gidx, nullptr});
  workTotal_ += units(*last.sampler->encode);
}

uint32_t Generator::readProgress() const {
  arena().invalidateStaging(layout_.progress, 4);
  uint32_t v = 0;
  std::memcpy(&v, static_cast<const std::byte*>(arena().stagingMapped()) + layout_.progress, 4);
  return v;
}

void Generator::finishJob() {
  auto* base = static_cast<const std::byte*>(arena().stagingMapped());
  arena().invalidateStaging(layout_.outputs, items_.size() * layout_.slotOutput);
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const Item& it = items_[i];
    const tsr_output& o = it.output;
    if (o.kind != TSR_OUTPUT_HOST_MEMORY) continue;
    const std::size_t row = sampler::pixelBytes(it.format, 1, 1, it.width);
    const std::size_t pitch = o.row_pitch ? o.row_pitch : row;
    for (uint32_t y = 0; y < it.height; ++y)
      std::memcpy(static_cast<std::byte*>(o.pixels) + y * pitch, base + layout_.outputs + i * layout_.slotOutput + y * row,
                  row);
  }
  items_.clear();
  for (const auto& st : stages_) st->graph().markWeightsUploaded();  // the job that carried them has run
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
