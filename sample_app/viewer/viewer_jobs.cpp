// The viewer's generation jobs and what the user asks of them: keys, the window title, messages.
#include <GLFW/glfw3.h>

#include <cstdio>
#include <sstream>

#include "viewer_app.hpp"

namespace tessera::viewer {

void ViewerApp::say(const std::string& line) const {
  if (!options_.quiet) std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string ViewerApp::lookText(const Look& look) const {
  std::string name = look.classIndex < 0 ? "unconditional" : model_->className(uint32_t(look.classIndex));
  return name + ", seed " + std::to_string(look.seed) + (look.tileable ? ", tileable" : ", plain");
}

// ---- the job --------------------------------------------------------------------------------

void ViewerApp::startJob(const Look& look) {
  const GeneratedTexture& back = *textures_[front_ ^ 1];
  // Kept until the job completes: the outputs are recorded in the last slice, frames after begin.
  tsr_request& r = jobRequest_;
  r = tsr::request();
  r.width = r.height = texSize_;
  r.class_index = look.classIndex;
  r.seed = look.seed;
  r.steps = options_.steps;
  r.guidance = options_.guidance;
  r.tiling = look.tileable ? TSR_TILING_TILEABLE : TSR_TILING_PLAIN;
  r.output.kind = TSR_OUTPUT_IMAGE;
  r.output.format = GeneratedTexture::kFormat;
  r.output.image = back.image();
  r.output.mip_levels = back.mipLevels();
  r.output.final_layout = VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL;
  generator_->begin(std::span<const tsr_request>(&r, 1));
  generating_ = look;
  jobActive_ = true;
  jobRecorded_ = false;
  jobFirstSlice_ = true;
  jobFirstFrame_ = frame_;
  jobSliceFrames_ = 0;
  jobEvaluations_ = generator_->progress().evaluations_total;
  jobStart_ = Clock::now();
}

void ViewerApp::finishJob(uint64_t lastSliceFrame) {
  generator_->complete();
  front_ ^= 1;
  shown_ = generating_;
  jobActive_ = false;
  TextureRecord t;
  t.className = generating_.classIndex < 0 ? "" : model_->className(uint32_t(generating_.classIndex));
  t.seed = generating_.seed;
  t.tileable = generating_.tileable;
  t.evaluations = jobEvaluations_;
  t.frames = jobSliceFrames_;
  t.wallMs = msBetween(jobStart_, Clock::now());
  stats_.addTexture(t);
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << "texture " << stats_.textures().size() << " (" << lookText(generating_)
    << "): " << t.evaluations << " evaluations in " << t.frames << " frames (frames " << jobFirstFrame_
    << ".." << lastSliceFrame << "), " << t.wallMs << " ms";
  say(s.str());
  if (!options_.saveTexture.empty() && stats_.textures().size() == 1) saveTexturePending_ = true;
  if (stats_.textures().size() == options_.textures) allShownFrame_ = frame_;
  if (options_.frames > 0 && stats_.textures().size() < options_.textures && !pending_) {
    ++wanted_.seed;
    pending_ = wanted_;
  }
}

// ---- keys, title, statistics ------------------------------------------------------------------

void ViewerApp::handleKey(int key) {
  switch (key) {
    case GLFW_KEY_ESCAPE:
    case GLFW_KEY_Q:
      quit_ = true;
      return;
    case GLFW_KEY_SPACE:
    case GLFW_KEY_N:
      ++wanted_.seed;
      break;
    case GLFW_KEY_T:
      wanted_.tileable = !wanted_.tileable;
      break;
    case GLFW_KEY_S:
      screenshotRequest_ = nextScreenshotName();
      return;
    default: {
      if (key < GLFW_KEY_0 || key > GLFW_KEY_9) return;
      const uint32_t index = key == GLFW_KEY_0 ? 9u : uint32_t(key - GLFW_KEY_1);
      if (index >= modelInfo_.class_count) {
        say("the model has " + std::to_string(modelInfo_.class_count) + " classes; key " +
            std::to_string(key - GLFW_KEY_0) + " has none");
        return;
      }
      wanted_.classIndex = int32_t(index);
    }
  }
  // A job already under way finishes first (its slices are on the GPU); the newest wish follows.
  pending_ = wanted_;
}

std::string ViewerApp::nextScreenshotName() {
  const Look& l = shown_ ? *shown_ : wanted_;
  std::string name = l.classIndex < 0 ? "unconditional" : model_->className(uint32_t(l.classIndex));
  return "tessera-" + name + "-" + std::to_string(l.seed) + "-" + std::to_string(++screenshotCount_) + ".png";
}

void ViewerApp::updateTitle(double frameMs) {
  if (!window_) return;
  const auto now = Clock::now();
  if (msBetween(lastTitle_, now) < 250.0) return;
  lastTitle_ = now;
  std::ostringstream s;
  s.precision(1);
  s << std::fixed << "tessera-viewer - ";
  if (jobActive_) {
    const tsr_progress p = generator_->progress();
    s << lookText(generating_) << " - generating " << p.evaluations_done << "/" << p.evaluations_total;
  } else if (shown_) {
    s << lookText(*shown_);
  }
  s << " - " << frameMs << " ms";
  window_->setTitle(s.str());
}

std::string ViewerApp::statsHeader() const {
  std::ostringstream s;
  const VkExtent2D e = target_->extent();
  s << "  \"device\": \"" << device_->properties().deviceName << "\",\n"
    << "  \"target\": \"" << target_->describe() << "\",\n"
    << "  \"window\": [" << e.width << ", " << e.height << "],\n"
    << "  \"view\": \"" << (options_.flat ? "flat" : "perspective") << "\",\n"
    << "  \"target_frame_ms\": " << options_.frameMs << ",\n"
    << "  \"texture_size\": " << texSize_ << ",\n"
    << "  \"steps\": " << options_.steps << ",\n"
    << "  \"frames\": " << frame_;
  return s.str();
}

}  // namespace tessera::viewer
