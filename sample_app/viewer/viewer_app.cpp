#include "viewer_app.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <glm/gtc/matrix_transform.hpp>
#include <sstream>

#include "model_path.hpp"
#include "readback.hpp"

namespace tessera::viewer {
namespace {

// Ctrl+C or a termination request ends the frame loop the way closing the window does, so the
// device is idle before tessera's generator and the device are destroyed.
volatile std::sig_atomic_t stopRequested = 0;
void requestStop(int signal) { stopRequested = signal; }

// Queries per frame slot: before the slice, after the slice, after drawing.
constexpr uint32_t kQueriesPerSlot = 3;

// What the plane shows before the first texture is ready: a dark grey.
constexpr VkClearColorValue kPlaceholder{{0.05f, 0.05f, 0.05f, 1.0f}};

int32_t resolveClass(const tsr::Model& model, const tsr_model_info& info, const std::string& spec) {
  if (spec.empty()) return info.class_count ? 0 : -1;
  if (std::all_of(spec.begin(), spec.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    const unsigned long index = std::stoul(spec);
    if (index >= info.class_count)
      throw std::runtime_error("--class " + spec + " is out of range: the model has " +
                               std::to_string(info.class_count) + " classes");
    return int32_t(index);
  }
  return int32_t(model.findClass(spec));
}

}  // namespace

ViewerApp::ViewerApp(const Options& options) : options_(options), budget_(options.frameMs, options.budget) {
  // The model first, so that a wrong path or class fails before a window opens.
  const std::string modelPath = options_.model.empty() ? app::findDefaultModel().string() : options_.model;
  model_.emplace(tsr::Model::load(modelPath));
  modelInfo_ = model_->info();
  wanted_.classIndex = resolveClass(*model_, modelInfo_, options_.classSpec);
  wanted_.seed = options_.seed;
  wanted_.tileable = !options_.plain;
  // By default the model's full size: a cascade's base native size times its stages' scale.
  const uint32_t native = modelInfo_.native_size ? modelInfo_.native_size : 64;
  texSize_ = options_.size ? options_.size : native * std::max(modelInfo_.cascade_scale, 1u);
  if (modelInfo_.size_multiple && texSize_ % modelInfo_.size_multiple)
    throw std::runtime_error("--size " + std::to_string(texSize_) + " is not a multiple of " +
                             std::to_string(modelInfo_.size_multiple) + ", which the model needs");
  say("model " + modelPath + ": " + std::to_string(modelInfo_.class_count) + " classes, native size " +
      std::to_string(modelInfo_.native_size) + ", " + std::to_string(modelInfo_.default_steps) +
      " steps by default" +
      (modelInfo_.stage_count ? ", " + std::to_string(modelInfo_.stage_count) + " super-resolution stage(s) to " +
                                    std::to_string(native * modelInfo_.cascade_scale) + " px"
                              : std::string()) +
      "; showing " + std::to_string(texSize_) + " px");

  if (!options_.offscreen) glfw_.emplace();
  instance_ = std::make_unique<Instance>(glfw_ ? glfw_->instanceExtensions() : std::vector<const char*>{},
                                         options_.validation);
  if (!options_.offscreen)
    window_ = std::make_unique<Window>(instance_->get(), options_.width, options_.height, "tessera-viewer");
  device_ =
      std::make_unique<Device>(*instance_, window_ ? window_->surface() : VK_NULL_HANDLE, options_.device);
  context_.emplace(tsr::Context::fromDevice(device_->hostDesc(instance_->get())));

  tsr_generator_desc gd = tsr::generatorDesc();
  gd.max_width = gd.max_height = texSize_;
  gd.max_batch = 1;
  gd.precision = options_.fp32 ? TSR_PRECISION_FP32 : TSR_PRECISION_AUTO;
  // Every request is the prepared shape; anything else would be a bug worth an error.
  gd.flags = TSR_GENERATOR_STRICT_SHAPES;
  const auto t0 = Clock::now();
  generator_.emplace(*context_, *model_, gd);
  const tsr_memory_requirements mem = tsr::queryMemory(*context_, *model_, gd);
  {
    std::ostringstream s;
    s.precision(1);
    s << std::fixed << "device " << device_->properties().deviceName << " (fp16 storage "
      << (device_->fp16Storage() && !options_.fp32 ? "on" : "off") << "); generator ready in "
      << msBetween(t0, Clock::now()) << " ms, arena " << double(mem.device_bytes) / (1 << 20) << " MiB";
    say(s.str());
  }

  if (options_.offscreen)
    target_ = std::make_unique<OffscreenTarget>(*device_, VkExtent2D{options_.width, options_.height});
  else
    target_ = std::make_unique<SwapchainTarget>(*device_, window_->surface(), window_->framebufferSize(),
                                                !options_.noVsync);
  say(target_->describe());
  for (auto& t : textures_) t = std::make_unique<GeneratedTexture>(*device_, texSize_, texSize_);
  renderer_ = std::make_unique<PlaneRenderer>(
      *device_, *target_, std::array<VkImageView, 2>{textures_[0]->view(), textures_[1]->view()});
  try {
    createFrameResources();
  } catch (...) {
    destroyFrameResources();
    throw;
  }
  pending_ = wanted_;
}

ViewerApp::~ViewerApp() {
  if (device_) vkDeviceWaitIdle(device_->get());
  destroyFrameResources();
}

void ViewerApp::createFrameResources() {
  const VkDevice dev = device_->get();
  VkCommandPoolCreateInfo cpci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  cpci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
  cpci.queueFamilyIndex = device_->queueFamily();
  vkCheck(vkCreateCommandPool(dev, &cpci, nullptr, &pool_), "vkCreateCommandPool");
  for (FrameSlot& s : slots_) {
    VkCommandBufferAllocateInfo cbai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    cbai.commandPool = pool_;
    cbai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    cbai.commandBufferCount = 1;
    vkCheck(vkAllocateCommandBuffers(dev, &cbai, &s.cmd), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    vkCheck(vkCreateFence(dev, &fci, nullptr, &s.fence), "vkCreateFence");
    VkSemaphoreCreateInfo sci{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    vkCheck(vkCreateSemaphore(dev, &sci, nullptr, &s.acquired), "vkCreateSemaphore");
  }
  if (device_->timestamps()) {
    VkQueryPoolCreateInfo qpci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    qpci.queryType = VK_QUERY_TYPE_TIMESTAMP;
    qpci.queryCount = kQueriesPerSlot * kFramesInFlight;
    vkCheck(vkCreateQueryPool(dev, &qpci, nullptr, &queries_), "vkCreateQueryPool");
  }

  // Both textures start as the placeholder, so the plane has something to sample from frame 0.
  VkCommandBuffer cmd = slots_[0].cmd;
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkCheck(vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
  for (auto& t : textures_) t->recordClear(cmd, kPlaceholder);
  vkCheck(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
  VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cmd;
  vkCheck(vkQueueSubmit(device_->queue(), 1, &si, VK_NULL_HANDLE), "vkQueueSubmit (placeholder)");
  vkCheck(vkQueueWaitIdle(device_->queue()), "vkQueueWaitIdle");
}

void ViewerApp::destroyFrameResources() {
  if (!device_) return;
  const VkDevice dev = device_->get();
  for (FrameSlot& s : slots_) {
    if (s.fence) vkDestroyFence(dev, s.fence, nullptr);
    if (s.acquired) vkDestroySemaphore(dev, s.acquired, nullptr);
    s = FrameSlot{};
  }
  if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
  if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
  queries_ = VK_NULL_HANDLE;
  pool_ = VK_NULL_HANDLE;
}

// ---- frames ---------------------------------------------------------------------------------

void ViewerApp::retire(FrameSlot& slot) {
  if (!slot.submitted) return;
  vkCheck(vkWaitForFences(device_->get(), 1, &slot.fence, VK_TRUE, UINT64_MAX), "vkWaitForFences");
  slot.submitted = false;
  FrameRecord& rec = stats_.frame(slot.frame);
  const uint32_t q = uint32_t(&slot - slots_.data()) * kQueriesPerSlot;
  if (queries_) {
    uint64_t ts[kQueriesPerSlot] = {};
    const VkQueryResultFlags flags = VK_QUERY_RESULT_64_BIT;
    // Only the queries this frame wrote: asking for an unwritten one is an error.
    vkCheck(vkGetQueryPoolResults(device_->get(), queries_, q, 1, 8, &ts[0], 8, flags),
            "vkGetQueryPoolResults");
    if (slot.sliceUnits > 0.0)
      vkCheck(vkGetQueryPoolResults(device_->get(), queries_, q + 1, 1, 8, &ts[1], 8, flags),
              "vkGetQueryPoolResults");
    vkCheck(vkGetQueryPoolResults(device_->get(), queries_, q + 2, 1, 8, &ts[2], 8, flags),
            "vkGetQueryPoolResults");
    const uint64_t mask = device_->timestampMask();
    const double msPerTick = double(device_->properties().limits.timestampPeriod) * 1e-6;
    const auto span = [&](uint64_t a, uint64_t b) { return double((b - a) & mask) * msPerTick; };
    if (slot.sliceUnits > 0.0) {
      rec.sliceGpuMs = span(ts[0], ts[1]);
      rec.drawGpuMs = span(ts[1], ts[2]);
      if (!options_.wholeJob) budget_.observeSlice(slot.sliceUnits, rec.sliceGpuMs);
    } else {
      rec.drawGpuMs = span(ts[0], ts[2]);
    }
    budget_.observeDraw(rec.drawGpuMs);
  } else if (rec.frameMs >= 0.0) {
    // Without timestamps the frame's wall time stands in for the device's.
    if (slot.sliceUnits > 0.0)
      budget_.observeSlice(slot.sliceUnits, std::max(rec.frameMs - budget_.drawMs(), 0.1));
    else
      budget_.observeDraw(rec.frameMs);
  }
  if (options_.logFrames) {
    std::printf("frame %llu: %.2f ms, draw %.2f ms (device)", static_cast<unsigned long long>(slot.frame),
                rec.frameMs, rec.drawGpuMs);
    if (slot.sliceUnits > 0.0)
      std::printf(", slice %.2f ms for %.1f units (device), recorded in %.3f ms; next budget %.1f units",
                  rec.sliceGpuMs, slot.sliceUnits, rec.recordCpuMs, budget_.units());
    std::printf("\n");
  }
  std::vector<std::function<void()>> work;
  work.swap(slot.afterFence);
  for (auto& w : work) w();
}

void ViewerApp::drainAll() {
  for (uint32_t i = 0; i < kFramesInFlight; ++i) retire(slots_[(frame_ + i) % kFramesInFlight]);
}

PlanePush ViewerApp::planePush() const {
  const VkExtent2D e = target_->extent();
  PlanePush p;
  if (options_.flat) {
    // Orthographic, top-down: plane x -> screen x, plane z -> screen y, and one texel per pixel.
    p.mvp = glm::mat4(0.0f);
    p.mvp[0][0] = 1.0f;
    p.mvp[2][1] = 1.0f;
    p.mvp[3][3] = 1.0f;
    p.halfSize = {1.0f, 1.0f};
    p.uvScale = {float(e.width) / float(texSize_), float(e.height) / float(texSize_)};
    return p;
  }
  // Headless runs step time by frames, so the same command gives the same picture.
  const double t = options_.frames > 0 ? double(frame_) / 60.0 : msBetween(start_, Clock::now()) / 1000.0;
  const glm::mat4 model = glm::rotate(glm::mat4(1.0f), float(0.06 * t), glm::vec3(0.0f, 1.0f, 0.0f));
  const glm::mat4 view =
      glm::lookAt(glm::vec3(0.0f, 3.4f, 5.6f), glm::vec3(0.0f, 0.0f, 0.6f), glm::vec3(0.0f, 1.0f, 0.0f));
  glm::mat4 proj = glm::perspective(glm::radians(45.0f), float(e.width) / float(e.height), 0.1f, 100.0f);
  proj[1][1] *= -1.0f;  // Vulkan's clip space points y down
  p.mvp = proj * view * model;
  p.halfSize = {3.0f, 3.0f};  // 6x6 tiles of one unit each
  p.uvScale = {6.0f, 6.0f};
  p.uvOffset = {float(0.025 * t), float(0.015 * t)};
  return p;
}

void ViewerApp::recordFrame(FrameSlot& slot, uint32_t image, bool screenshot) {
  VkCommandBuffer cmd = slot.cmd;
  vkCheck(vkResetCommandBuffer(cmd, 0), "vkResetCommandBuffer");
  VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  vkCheck(vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
  const uint32_t q = uint32_t(&slot - slots_.data()) * kQueriesPerSlot;
  if (queries_) {
    vkCmdResetQueryPool(cmd, queries_, q, kQueriesPerSlot);
    // BOTTOM_OF_PIPE: written once everything before it has finished.
    vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, q);
  }
  FrameRecord& rec = stats_.frame(frame_);
  slot.sliceUnits = 0.0;
  if (jobActive_ && !jobRecorded_) {
    if (jobFirstSlice_) {
      // The texture tessera is about to write was shown until recently: earlier frames' fragment
      // reads must finish before its first write. tessera.h promises a leading barrier over compute
      // and transfer work only, so the host orders its own graphics work.
      vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT,
                           VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 0,
                           nullptr, 0, nullptr, 0, nullptr);
      jobFirstSlice_ = false;
    }
    const double units = budget_.units();
    const auto t0 = Clock::now();
    bool done = true;
    if (options_.wholeJob)
      generator_->record(cmd);
    else
      done = generator_->recordSlice(cmd, units);
    rec.recordCpuMs = msBetween(t0, Clock::now());
    if (queries_) vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, q + 1);
    slot.sliceUnits = rec.sliceUnits = units;
    rec.job = uint32_t(stats_.textures().size() + 1);
    ++jobSliceFrames_;
    if (done) {
      jobRecorded_ = true;
      const uint64_t f = frame_;
      slot.afterFence.push_back([this, f] { finishJob(f); });
    }
  }
  if (saveTexturePending_) {
    saveTexturePending_ = false;
    const GeneratedTexture& tex = *textures_[front_];
    // tessera's last writes were transfers (the mip blits); the plane samples in fragment shaders.
    const ImageUse use{VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL,
                       VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                           VK_PIPELINE_STAGE_FRAGMENT_SHADER_BIT,
                       VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT, VK_ACCESS_SHADER_READ_BIT};
    auto rb = std::make_shared<Readback>(*device_, cmd, tex.image(), VkExtent2D{tex.width(), tex.height()},
                                         GeneratedTexture::kFormat, use);
    const std::string path = options_.saveTexture;
    slot.afterFence.push_back([this, rb, path] {
      rb->writePng(path);
      say("texture saved: " + path);
    });
  }
  renderer_->record(cmd, image, front_, planePush());
  if (queries_) vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, q + 2);
  if (screenshot) {
    if (!target_->readable())
      throw VulkanError(
          "the swapchain's images cannot be copied (no TRANSFER_SRC usage); use --offscreen for screenshots");
    const ImageUse use{target_->finishedLayout(),
                       VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT, 0};
    auto rb = std::make_shared<Readback>(*device_, cmd, target_->image(image), target_->extent(),
                                         target_->format(), use);
    const std::string path = !screenshotRequest_.empty() ? screenshotRequest_ : options_.screenshot;
    screenshotRequest_.clear();
    const VkExtent2D e = target_->extent();
    slot.afterFence.push_back([this, rb, path, e] {
      rb->writePng(path);
      say("screenshot saved: " + path + " (" + std::to_string(e.width) + "x" + std::to_string(e.height) +
          ")");
    });
  }
  vkCheck(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
}

int ViewerApp::run() {
  std::signal(SIGINT, &requestStop);
  std::signal(SIGTERM, &requestStop);
  start_ = lastTitle_ = Clock::now();
  Clock::time_point previous = start_;
  double smoothedMs = 0.0;
  bool last = false;
  while (!last && !quit_) {
    const auto now = Clock::now();
    if (frame_ > 0) {
      const double ms = msBetween(previous, now);
      stats_.frame(frame_ - 1).frameMs = ms;
      smoothedMs = smoothedMs == 0.0 ? ms : smoothedMs + 0.1 * (ms - smoothedMs);
    }
    previous = now;
    if (stopRequested) break;
    if (window_) {
      for (int key : window_->poll()) handleKey(key);
      if (window_->shouldClose()) quit_ = true;
      if (quit_) break;
      const VkExtent2D fb = window_->framebufferSize();
      if (fb.width == 0 || fb.height == 0) {  // minimised
        window_->waitEvents();
        continue;
      }
    }

    FrameSlot& slot = slots_[frame_ % kFramesInFlight];
    retire(slot);
    if (!jobActive_ && pending_) {
      startJob(*pending_);
      pending_.reset();
    }

    const auto acquired = target_->acquire(slot.acquired);
    if (!acquired) {
      vkDeviceWaitIdle(device_->get());
      target_->recreate(window_->framebufferSize());
      renderer_->follow(*target_);
      continue;
    }
    // Headless: the last frame is the N-th, or the first after that which shows the last texture
    // (and has the idle frames asked for after it).
    last = options_.frames > 0 && frame_ + 1 >= options_.frames &&
           stats_.textures().size() >= options_.textures && frame_ >= allShownFrame_ + options_.idleFrames;
    const bool screenshot = (last && !options_.screenshot.empty()) || !screenshotRequest_.empty();
    recordFrame(slot, acquired->index, screenshot);

    vkCheck(vkResetFences(device_->get(), 1, &slot.fence), "vkResetFences");
    const VkPipelineStageFlags waitStage = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
    const VkSemaphore rendered = target_->renderedSemaphore(acquired->index);
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.waitSemaphoreCount = acquired->waitsForAcquire ? 1 : 0;
    si.pWaitSemaphores = &slot.acquired;
    si.pWaitDstStageMask = &waitStage;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &slot.cmd;
    si.signalSemaphoreCount = rendered ? 1 : 0;
    si.pSignalSemaphores = &rendered;
    vkCheck(vkQueueSubmit(device_->queue(), 1, &si, slot.fence), "vkQueueSubmit");
    slot.submitted = true;
    slot.frame = frame_;
    ++frame_;
    if (!target_->present(acquired->index)) {
      vkDeviceWaitIdle(device_->get());
      target_->recreate(window_->framebufferSize());
      renderer_->follow(*target_);
    }
    updateTitle(smoothedMs);
  }
  drainAll();
  if (frame_ > 0 && stats_.frame(frame_ - 1).frameMs < 0.0)
    stats_.frame(frame_ - 1).frameMs = msBetween(previous, Clock::now());

  const Summary gen = stats_.frameTimes(true), idle = stats_.frameTimes(false);
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << frame_ << " frames; while generating: " << gen.count << " frames, median " << gen.median
    << " ms, p95 " << gen.p95 << " ms, max " << gen.max << " ms; idle: " << idle.count << " frames, median "
    << idle.median << " ms, p95 " << idle.p95 << " ms, max " << idle.max << " ms";
  if (stats_.textures().size() >= 2) {
    const Summary warm = stats_.warmFrameTimes();
    s << "; generating after the first texture: median " << warm.median << " ms, p95 " << warm.p95
      << " ms, max " << warm.max << " ms";
  }
  say(s.str());
  if (!options_.stats.empty()) {
    stats_.writeJson(options_.stats, statsHeader());
    say("stats saved: " + options_.stats);
  }
  if (options_.validation && instance_->validationMessages()) {
    std::fprintf(stderr, "tessera-viewer: the validation layer reported %zu messages\n",
                 instance_->validationMessages());
    return 2;
  }
  // Stopped by a signal: the shell's convention, so a script sees the run did not finish.
  return stopRequested ? 128 + int(stopRequested) : 0;
}

}  // namespace tessera::viewer
