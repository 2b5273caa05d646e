#pragma once
// The viewer: its device handed to tessera (tsr_context_create_from_device), two textures (one
// shown while tessera writes the other), and a frame loop that records at most one generation
// slice per frame into the frame's own command buffer.
#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "frame_stats.hpp"
#include "options.hpp"
#include "plane_renderer.hpp"
#include "render_target.hpp"
#include "slice_budget.hpp"
#include "tessera/tessera.hpp"
#include "texture.hpp"
#include "vulkan_host.hpp"
#include "window.hpp"

namespace tessera::viewer {

class ViewerApp {
 public:
  explicit ViewerApp(const Options& options);
  ~ViewerApp();
  ViewerApp(const ViewerApp&) = delete;
  ViewerApp& operator=(const ViewerApp&) = delete;

  // The frame loop; returns the exit status.
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  static double msBetween(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
  }
  static constexpr uint32_t kFramesInFlight = 2;

  // What a texture shows.
  struct Look {
    int32_t classIndex = 0;
    uint64_t seed = 1;
    bool tileable = true;
  };
  struct FrameSlot {
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    VkSemaphore acquired = VK_NULL_HANDLE;
    bool submitted = false;
    uint64_t frame = 0;
    double sliceUnits = 0.0;  // 0: no slice in this frame
    // Work that needs this frame to have finished executing (completing a job, saving pixels).
    std::vector<std::function<void()>> afterFence;
  };

  void createFrameResources();
  void destroyFrameResources();
  // Waits for the slot's previous frame, reads its timings and runs its afterFence work.
  void retire(FrameSlot& slot);
  void drainAll();
  void handleKey(int key);
  void startJob(const Look& look);
  void finishJob(uint64_t lastSliceFrame);
  void recordFrame(FrameSlot& slot, uint32_t image, bool screenshot);
  PlanePush planePush() const;
  void updateTitle(double frameMs);
  std::string lookText(const Look& look) const;
  std::string statsHeader() const;
  void say(const std::string& line) const;
  std::string nextScreenshotName();

  Options options_;
  std::optional<tsr::Model> model_;
  tsr_model_info modelInfo_{};
  uint32_t texSize_ = 0;
  std::optional<GlfwSession> glfw_;
  std::unique_ptr<Instance> instance_;
  std::unique_ptr<Window> window_;
  std::unique_ptr<Device> device_;
  std::optional<tsr::Context> context_;
  std::optional<tsr::Generator> generator_;
  std::unique_ptr<RenderTarget> target_;
  std::array<std::unique_ptr<GeneratedTexture>, 2> textures_;
  std::unique_ptr<PlaneRenderer> renderer_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkQueryPool queries_ = VK_NULL_HANDLE;
  std::array<FrameSlot, kFramesInFlight> slots_;

  SliceBudget budget_;
  FrameStats stats_;

  // The generation job.
  Look wanted_;                  // what the keys last asked for
  std::optional<Look> pending_;  // asked for and not begun yet
  std::optional<Look> shown_;    // what the front texture shows (none: the placeholder)
  Look generating_;
  tsr_request jobRequest_{};
  bool jobActive_ = false, jobRecorded_ = false, jobFirstSlice_ = false;
  uint64_t jobFirstFrame_ = 0, jobSliceFrames_ = 0;
  uint32_t jobEvaluations_ = 0;
  Clock::time_point jobStart_;
  uint32_t front_ = 0;  // the texture slot the plane shows
  bool saveTexturePending_ = false;

  uint64_t frame_ = 0;
  uint64_t allShownFrame_ = 0;  // headless: the frame that first showed the last texture
  Clock::time_point start_, lastTitle_;
  bool quit_ = false;
  std::string screenshotRequest_;  // a key asked for one; taken in the next frame
  uint32_t screenshotCount_ = 0;
};

}  // namespace tessera::viewer
