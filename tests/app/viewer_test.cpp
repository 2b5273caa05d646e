// tessera-viewer as a user runs it, headless under Xvfb on the shipped default model: it exits
// cleanly (with the validation layer on), its screenshot has the window's size and shows the
// texture it generated — tiled texel for texel in the flat view, and on the turning plane in the
// perspective view — and mistakes fail before a window opens, with a message naming them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "cli_run.hpp"
#include "op_harness.hpp"
#include "png_io.hpp"
#include "tessera/tessera.hpp"

namespace tessera::app {
namespace {

namespace fs = std::filesystem;

const fs::path kModel =
    fs::path(__FILE__).parent_path().parent_path().parent_path() / "models" / "default.tsr";
bool haveXvfbRun() { return std::system("command -v xvfb-run > /dev/null 2>&1") == 0; }

double srgbToLinear(double v) {
  v /= 255.0;
  return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
}
double linearToSrgb(double c) {
  c = std::clamp(c, 0.0, 1.0);
  return 255.0 * (c <= 0.0031308 ? c * 12.92 : 1.055 * std::pow(c, 1.0 / 2.4) - 0.055);
}

// Mean absolute difference between the screenshot and the texture repeated from the top-left
// corner, shifted by (dx, dy) texels: 0 when the screenshot is the texture tiled.
double tiledDifference(const Image& shot, const Image& tex, uint32_t dx, uint32_t dy,
                       int* maxDiff = nullptr) {
  double sum = 0.0;
  int worst = 0;
  for (uint32_t y = 0; y < shot.height; ++y)
    for (uint32_t x = 0; x < shot.width; ++x) {
      const uint8_t* s = shot.at(x, y);
      const uint8_t* t = tex.at((x + dx) % tex.width, (y + dy) % tex.height);
      for (int c = 0; c < 3; ++c) {
        const int d = std::abs(int(s[c]) - int(t[c]));
        sum += d;
        worst = std::max(worst, d);
      }
    }
  if (maxDiff) *maxDiff = worst;
  return sum / (3.0 * shot.width * shot.height);
}

struct ColourStats {
  double mean[3] = {0, 0, 0};  // sRGB-encoded mean of the linear colours
  double spread = 0.0;         // standard deviation of the sRGB values, all channels
  std::size_t count = 0;
};

template <class Pick>
ColourStats colourStats(const Image& img, Pick pick) {
  ColourStats s;
  double lin[3] = {0, 0, 0}, sum = 0.0, sum2 = 0.0;
  for (uint32_t y = 0; y < img.height; ++y)
    for (uint32_t x = 0; x < img.width; ++x) {
      const uint8_t* p = img.at(x, y);
      if (!pick(p)) continue;
      ++s.count;
      for (int c = 0; c < 3; ++c) {
        lin[c] += srgbToLinear(p[c]);
        sum += p[c];
        sum2 += double(p[c]) * p[c];
      }
    }
  if (!s.count) return s;
  // Filtering averages linear colour, so the means are compared in linear terms.
  for (int c = 0; c < 3; ++c) s.mean[c] = linearToSrgb(lin[c] / double(s.count));
  const double n = 3.0 * double(s.count), m = sum / n;
  s.spread = std::sqrt(std::max(0.0, sum2 / n - m * m));
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Viewer : public ::testing::Test {
 protected:
  void SetUp() override {
    // The viewer sits in <build>/sample_app/viewer; builtTool starts from <build>/tools.
    viewer_ = test::builtTool("TESSERA_VIEWER", "../sample_app/viewer", "tessera-viewer").lexically_normal();
    ASSERT_TRUE(fs::exists(viewer_)) << viewer_
                                     << " is not built (build tessera-viewer, or set TESSERA_VIEWER)";
    ASSERT_TRUE(fs::exists(kModel)) << kModel;
    const uint64_t r = test::freshSeed();
    seed_ = r % 1000000;
    // Any of the model's classes, drawn at random like the seed.
    const uint32_t classes = tsr::Model::load(kModel.string()).info().class_count;
    class_ = classes ? (r / 1000000) % classes : 0;
    dir_ = fs::temp_directory_path() / ("tessera_viewer_" + std::to_string(r));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::string request() const {
    return "--model " + test::quoted(kModel) + " --class " + std::to_string(class_) + " --seed " +
           std::to_string(seed_) + " --steps 2";
  }
  // The viewer in a window on a virtual X server, as the README runs it.
  test::CliResult windowed(const std::string& args) {
    return test::runTool("xvfb-run", "-a -s \"-screen 0 1280x720x24\" " + test::quoted(viewer_) + " " + args,
                         dir_);
  }
  std::string path(const char* name) const { return test::quoted(dir_ / name); }
  std::string context(const test::CliResult& r) const {
    return "class " + std::to_string(class_) + ", seed " + std::to_string(seed_) + "\nstdout:\n" + r.out +
           "\nstderr:\n" + r.err;
  }

  fs::path viewer_, dir_;
  uint64_t seed_ = 0, class_ = 0;
};

TEST_F(Viewer, FlatViewShowsTheGeneratedTextureTiledTexelForTexel) {
  if (!haveXvfbRun())
    GTEST_SKIP() << "xvfb-run is not installed (Debian: xvfb, xauth); the viewer needs a display";
  // A window that is no multiple of the texture, so partial tiles are checked too.
  const test::CliResult r =
      windowed(request() +
               " --flat --width 200 --height 136 --frames 3 --no-vsync --validation"
               " --screenshot " +
               path("shot.png") + " --save-texture " + path("tex.png") + " --stats " + path("stats.json"));
  ASSERT_EQ(r.status, 0) << context(r);
  const Image shot = readImage(dir_ / "shot.png", 3), tex = readImage(dir_ / "tex.png", 3);
  ASSERT_EQ(shot.width, 200u);
  ASSERT_EQ(shot.height, 136u);
  ASSERT_GT(tex.width, 0u);
  ASSERT_LT(tex.width, shot.width) << "the window must hold more than one tile";

  // The texture has structure for the comparison to see.
  const ColourStats ts = colourStats(tex, [](const uint8_t*) { return true; });
  ASSERT_GT(ts.spread, 2.0) << "the generated texture is nearly flat; " << context(r);

  int worst = 0;
  const double aligned = tiledDifference(shot, tex, 0, 0, &worst);
  const double shifted = tiledDifference(shot, tex, tex.width / 2, tex.height / 3);
  // sRGB decode in the sampler and encode in the swapchain round-trip 8-bit values; a trace of
  // the next mip level may blend in where the derivatives are not exactly one texel.
  EXPECT_LT(aligned, 0.5) << "max difference " << worst << "; " << context(r);
  EXPECT_LE(worst, 6) << context(r);
  // The same comparison off by half a tile fails clearly: the match is the tiling, not the colour.
  EXPECT_GT(shifted, 4.0 * aligned + 1.0) << "aligned " << aligned << ", shifted " << shifted;

  const std::string stats = slurp(dir_ / "stats.json");
  for (const char* key : {"\"generating\"", "\"idle\"", "\"frame_ms\"", "\"median\"", "\"p95\"", "\"max\"",
                          "\"frames_per_texture\""})
    EXPECT_NE(stats.find(key), std::string::npos) << key << " missing from stats:\n" << stats;
}

TEST_F(Viewer, PerspectiveViewShowsTheTextureOnTheTiledPlane) {
  if (!haveXvfbRun())
    GTEST_SKIP() << "xvfb-run is not installed (Debian: xvfb, xauth); the viewer needs a display";
  const test::CliResult r =
      windowed(request() + " --width 320 --height 180 --frames 12 --no-vsync --screenshot " +
               path("shot.png") + " --save-texture " + path("tex.png"));
  ASSERT_EQ(r.status, 0) << context(r);
  const Image shot = readImage(dir_ / "shot.png", 3), tex = readImage(dir_ / "tex.png", 3);
  ASSERT_EQ(shot.width, 320u);
  ASSERT_EQ(shot.height, 180u);

  // The top of the view is sky above the plane's far edge: whatever differs from it is plane.
  const uint8_t* sky = shot.at(shot.width / 2, 0);
  const uint8_t bg[3] = {sky[0], sky[1], sky[2]};
  const auto onPlane = [&](const uint8_t* p) {
    return std::abs(p[0] - bg[0]) + std::abs(p[1] - bg[1]) + std::abs(p[2] - bg[2]) > 12;
  };
  const ColourStats plane = colourStats(shot, onPlane);
  const ColourStats texture = colourStats(tex, [](const uint8_t*) { return true; });
  const double coverage = double(plane.count) / (double(shot.width) * shot.height);
  EXPECT_GT(coverage, 0.4) << "the plane covers too little of the view; " << context(r);
  EXPECT_LT(coverage, 0.95) << "no sky: the view is not the plane seen in perspective; " << context(r);
  // Not a flat colour (the placeholder is one): the texture's detail shows.
  EXPECT_GT(plane.spread, 0.3 * texture.spread) << context(r);
  for (int c = 0; c < 3; ++c)
    EXPECT_NEAR(plane.mean[c], texture.mean[c], 10.0) << "channel " << c << "; " << context(r);
}

TEST_F(Viewer, OffscreenTargetDrawsWhatTheWindowShows) {
  // Needs no display at all: the fallback for machines where no swapchain can be made.
  const std::string common =
      request() + " --flat --width 96 --height 80 --frames 2 --validation --screenshot ";
  const test::CliResult off = test::runTool(viewer_, common + path("off.png") + " --offscreen", dir_);
  ASSERT_EQ(off.status, 0) << context(off);
  const Image offShot = readImage(dir_ / "off.png", 3);
  EXPECT_EQ(offShot.width, 96u);
  EXPECT_EQ(offShot.height, 80u);
  if (!haveXvfbRun())
    GTEST_SKIP() << "xvfb-run is not installed: the offscreen picture was not compared to a window";
  const test::CliResult win = windowed(common + path("win.png") + " --no-vsync");
  ASSERT_EQ(win.status, 0) << context(win);
  const Image winShot = readImage(dir_ / "win.png", 3);
  ASSERT_EQ(winShot.width, offShot.width);
  ASSERT_EQ(winShot.height, offShot.height);
  EXPECT_LT(tiledDifference(offShot, winShot, 0, 0), 0.05);
}

TEST_F(Viewer, ACascadeModelIsShownAtItsFullSizeByDefault) {
  // The shipped teacher package carries a 4x super-resolution stage: with no --size the viewer
  // asks for the cascade's 256 px, and with --size 64 for the base's own.
  const fs::path cascade = kModel.parent_path() / "teacher.tsr";
  const tsr_model_info info = tsr::Model::load(cascade.string()).info();
  ASSERT_EQ(info.stage_count, 1u) << cascade;
  const uint32_t full = info.native_size * info.cascade_scale;
  for (uint32_t size : {0u, info.native_size}) {
    const std::string args = "--model " + test::quoted(cascade) + " --steps 1 --flat --width 32 --height 32" +
                             " --frames 2 --offscreen --save-texture " + path("tex.png") +
                             (size ? " --size " + std::to_string(size) : std::string());
    const test::CliResult r = test::runTool(viewer_, args, dir_);
    ASSERT_EQ(r.status, 0) << context(r);
    const Image tex = readImage(dir_ / "tex.png", 3);
    EXPECT_EQ(tex.width, size ? size : full) << context(r);
    EXPECT_NE(r.out.find("showing " + std::to_string(size ? size : full) + " px"), std::string::npos) << r.out;
  }
}

TEST_F(Viewer, MistakesFailBeforeAWindowOpensAndNameTheProblem) {
  // No xvfb-run: these must fail on their own, before any display is needed.
  test::CliResult r = test::runTool(viewer_, "--model " + path("missing.tsr") + " --frames 1", dir_);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("missing.tsr"), std::string::npos) << r.err;

  r = test::runTool(viewer_, "--model " + test::quoted(kModel) + " --class no_such_class --frames 1", dir_);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("no_such_class"), std::string::npos) << r.err;

  r = test::runTool(viewer_, "--model " + test::quoted(kModel) + " --class 99 --frames 1", dir_);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("99"), std::string::npos) << r.err;

  r = test::runTool(viewer_, "--model " + test::quoted(kModel) + " --size 63 --frames 1", dir_);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("63"), std::string::npos) << r.err;

  r = test::runTool(viewer_, "--screenshot " + path("x.png"), dir_);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--frames"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tessera::app
