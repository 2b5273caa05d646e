#include "frame_stats.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

namespace tessera::viewer {

Summary summarize(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return !(v >= 0.0); }),
               values.end());
  Summary s;
  s.count = values.size();
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  const auto rank = [&](double p) {
    const std::size_t r = std::size_t(std::ceil(p * double(values.size())));
    return values[std::min(values.size(), std::max<std::size_t>(r, 1)) - 1];
  };
  s.median = rank(0.5);
  s.p95 = rank(0.95);
  s.max = values.back();
  return s;
}

FrameRecord& FrameStats::frame(uint64_t index) {
  if (index >= frames_.size()) frames_.resize(index + 1);
  return frames_[index];
}

namespace {

std::vector<double> pick(const std::vector<FrameRecord>& frames, bool generating,
                         const std::function<double(const FrameRecord&)>& field) {
  std::vector<double> v;
  for (const FrameRecord& f : frames)
    if ((f.sliceUnits > 0.0) == generating) v.push_back(field(f));
  return v;
}

std::string json(const Summary& s) {
  std::ostringstream o;
  o.precision(4);
  o << std::fixed << "{\"count\": " << s.count << ", \"median\": " << s.median << ", \"p95\": " << s.p95
    << ", \"max\": " << s.max << "}";
  return o.str();
}

std::string quoted(const std::string& s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\';
    r += c;
  }
  return r + "\"";
}

}  // namespace

Summary FrameStats::frameTimes(bool generating) const {
  return summarize(pick(frames_, generating, [](const FrameRecord& f) { return f.frameMs; }));
}

Summary FrameStats::warmFrameTimes() const {
  std::vector<double> v;
  for (const FrameRecord& f : frames_)
    if (f.job >= 2) v.push_back(f.frameMs);
  return summarize(v);
}

void FrameStats::writeJson(const std::filesystem::path& path, const std::string& header) const {
  std::ostringstream o;
  o << "{\n" << header << ",\n";
  for (bool generating : {true, false}) {
    o << "  \"" << (generating ? "generating" : "idle") << "\": {\n";
    o << "    \"frame_ms\": " << json(frameTimes(generating)) << ",\n";
    const auto draw = [](const FrameRecord& f) { return f.drawGpuMs; };
    o << "    \"draw_gpu_ms\": " << json(summarize(pick(frames_, generating, draw)));
    if (generating) {
      const auto slice = [](const FrameRecord& f) { return f.sliceGpuMs; };
      const auto units = [](const FrameRecord& f) { return f.sliceUnits; };
      const auto record = [](const FrameRecord& f) { return f.recordCpuMs; };
      o << ",\n    \"slice_gpu_ms\": " << json(summarize(pick(frames_, true, slice)));
      o << ",\n    \"slice_units\": " << json(summarize(pick(frames_, true, units)));
      o << ",\n    \"record_cpu_ms\": " << json(summarize(pick(frames_, true, record)));
    }
    o << "\n  },\n";
    if (generating && textures_.size() >= 2) {
      std::vector<FrameRecord> warm;
      for (const FrameRecord& f : frames_)
        if (f.job >= 2) warm.push_back(f);
      o << "  \"generating_after_first_texture\": {\n";
      o << "    \"frame_ms\": "
        << json(summarize(pick(warm, true, [](const FrameRecord& f) { return f.frameMs; }))) << ",\n";
      o << "    \"slice_gpu_ms\": "
        << json(summarize(pick(warm, true, [](const FrameRecord& f) { return f.sliceGpuMs; }))) << "\n  },\n";
    }
  }
  o << "  \"textures\": [";
  for (std::size_t i = 0; i < textures_.size(); ++i) {
    const TextureRecord& t = textures_[i];
    o << (i ? ",\n" : "\n") << "    {\"class\": " << quoted(t.className) << ", \"seed\": " << t.seed
      << ", \"tileable\": " << (t.tileable ? "true" : "false") << ", \"evaluations\": " << t.evaluations
      << ", \"frames\": " << t.frames << ", \"wall_ms\": " << t.wallMs << "}";
  }
  o << (textures_.empty() ? "" : "\n  ") << "],\n";
  o << "  \"frames_per_texture\": " << (textures_.empty() ? 0 : textures_.front().frames) << "\n}\n";
  std::ofstream out(path);
  out << o.str();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace tessera::viewer
