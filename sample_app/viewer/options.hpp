#pragma once
// The viewer's command line.
#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace tessera::viewer {

struct Options {
  // what to generate
  std::string model;      // empty: the default model (see model_path.hpp)
  std::string classSpec;  // a class name or index; empty: the model's first class
  uint64_t seed = 1;
  uint32_t steps = 0;      // 0: the model's default
  uint32_t size = 0;       // 0: the model's native size
  float guidance = -1.0f;  // < 0: the model's default
  bool plain = false;      // start with circular padding off
  std::string device;
  bool fp32 = false;
  // the window and its frames
  uint32_t width = 1280, height = 720;
  double frameMs = 16.7;
  double budget = 20.0;  // units of the first slice, before any has been timed
  bool noVsync = false;
  bool flat = false;  // top-down, one texel per pixel, still
  bool offscreen = false;
  bool validation = false;
  bool logFrames = false;
  bool wholeJob = false;  // record each job into one frame (for comparison with slicing)
  bool quiet = false;
  // headless runs
  uint32_t frames = 0;      // 0: until the window is closed
  uint32_t textures = 1;    // with frames: generate this many, one after another (seed, seed+1, ...)
  uint32_t idleFrames = 0;  // with frames: at least this many frames after the last texture is shown
  std::string screenshot, saveTexture, stats;
};

// Declares every option on `app`, writing into `options`.
void addOptions(CLI::App& app, Options& options);

}  // namespace tessera::viewer
