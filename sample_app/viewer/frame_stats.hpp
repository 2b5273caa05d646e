#pragma once
// Per-frame times, split into frames that carried a generation slice and frames that did not,
// and the frames each texture took; written as JSON for BENCHMARKS.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::viewer {

struct FrameRecord {
  double frameMs = -1.0;     // CPU time from this frame's start to the next one's (what the user sees)
  double drawGpuMs = -1.0;   // the render pass on the device (-1: not measured)
  double sliceGpuMs = -1.0;  // the generation slice on the device (-1: none or not measured)
  double sliceUnits = 0.0;   // the budget it was recorded with (0: no slice)
  double recordCpuMs = 0.0;  // tsr_generator_record_slice on the CPU
  uint32_t job = 0;          // 1-based number of the texture the slice belonged to (0: no slice)
};

struct TextureRecord {
  std::string className;
  uint64_t seed = 0;
  bool tileable = true;
  uint32_t evaluations = 0;
  uint64_t frames = 0;  // frames that carried one of its slices
  double wallMs = 0.0;  // from begin to completion
};

struct Summary {
  std::size_t count = 0;
  double median = 0.0, p95 = 0.0, max = 0.0;
};
// Nearest-rank percentiles of the values that are >= 0.
Summary summarize(std::vector<double> values);

class FrameStats {
 public:
  FrameRecord& frame(uint64_t index);
  void addTexture(const TextureRecord& t) { textures_.push_back(t); }
  const std::vector<TextureRecord>& textures() const { return textures_; }
  // frameMs of the frames with (`generating`) or without a slice.
  Summary frameTimes(bool generating) const;
  // frameMs of the frames with a slice of the second texture or a later one: the first pays for
  // compiling the kernels on their first use (lavapipe compiles lazily).
  Summary warmFrameTimes() const;
  // `header`: a JSON object's members (without braces) describing the run.
  void writeJson(const std::filesystem::path& path, const std::string& header) const;

 private:
  std::vector<FrameRecord> frames_;
  std::vector<TextureRecord> textures_;
};

}  // namespace tessera::viewer
