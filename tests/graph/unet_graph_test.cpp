// The whole U-Net on the device against PyTorch: tests/graph/make_graph_fixtures.py built small
// random diffusers models with tools/train/unet.py and saved their float64 outputs. Each model is
// converted by the converter library, run at two sizes and batches 1 and 3, in every storage
// precision the device has, and compared by relative L2 error; ddpm_pad0 also as a tileable
// request against the circular-padded PyTorch model.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "converter.hpp"
#include "file_io.hpp"
#include "graph/unet_graph.hpp"
#include "gpu_test.hpp"
#include "model_package.hpp"
#include "op_harness.hpp"
#include "safetensors.hpp"

namespace tessera::graph {
namespace {

namespace fs = std::filesystem;
using test::GpuTest;

fs::path fixtures() { return fs::path(__FILE__).parent_path() / "fixtures"; }

struct IoCase {
  Shape4 shape;
  std::vector<float> sample, timesteps, expected;
  std::vector<int64_t> labels;
  std::vector<float> values;  // float labels of a timestep class embedding
};

IoCase readCase(const fs::path& file, bool timestepLabels) {
  const std::vector<std::byte> bytes = model::readFileBytes(file, 1 << 24);
  const model::SafetensorsFile st = model::SafetensorsFile::parse(model::asBytes(bytes));
  IoCase c;
  const model::SafeTensor* s = st.find("sample");
  EXPECT_NE(s, nullptr);
  c.shape = {uint32_t(s->shape[0]), uint32_t(s->shape[1]), uint32_t(s->shape[2]), uint32_t(s->shape[3])};
  c.sample = model::toFloat32(*s);
  c.timesteps = model::toFloat32(*st.find("timestep"));
  c.expected = model::toFloat32(*st.find("expected"));
  if (const model::SafeTensor* y = st.find("class_labels")) {
    if (timestepLabels)
      c.values = model::toFloat32(*y);
    else
      for (float v : model::toFloat32(*y)) c.labels.push_back(int64_t(v));
  }
  return c;
}

model::ModelPackage convert(const std::string& name) {
  model::ConvertResult r = model::convertModelDir(fixtures() / name, model::ConvertOptions{DType::F32, {}, true});
  return model::ModelPackage::fromBuffer(std::move(r.package));
}

// The fixture's files whose names start with `prefix`, and options for an arena that runs them all.
std::vector<IoCase> readCases(const std::string& name, const char* prefix, bool floatLabels) {
  std::vector<IoCase> cases;
  for (const auto& entry : fs::directory_iterator(fixtures() / name))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) cases.push_back(readCase(entry.path(), floatLabels));
  return cases;
}

UnetGraphOptions largest(const std::vector<IoCase>& cases) {
  UnetGraphOptions opts;
  for (const IoCase& c : cases) {
    opts.batch = std::max(opts.batch, c.shape.n);
    opts.height = std::max(opts.height, c.shape.h);
    opts.width = std::max(opts.width, c.shape.w);
  }
  return opts;
}

class UnetGraphPyTorch : public GpuTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(UnetGraphPyTorch, MatchesPyTorchAtTwoSizesAndBatches) {
  const std::string name = GetParam();
  const model::ModelPackage package = convert(name);
  const std::vector<IoCase> cases = readCases(name, "io_", package.layout().config.timestepClassEmbedding());
  ASSERT_EQ(cases.size(), 4u) << "fixture cases of " << name;
  UnetGraphOptions opts = largest(cases);
  for (DType dt : precisions()) {
    opts.dtype = dt;
    // One arena for the largest case; every case runs in it through prepare().
    UnetGraph graph(gpu(), kernels(), package, opts);
    EXPECT_LE(graph.memory().plannedActivations, graph.memory().naiveActivations);
    for (const IoCase& c : cases) {
      SCOPED_TRACE(name + " " + dtypeName(dt) + " " + c.shape.str());
      graph.prepare(c.shape.n, c.shape.h, c.shape.w);
      const std::vector<float> got = graph.run({c.sample, c.timesteps, c.labels, c.values});
      ASSERT_EQ(got.size(), c.expected.size());
      const double err = test::relativeL2(got, c.expected);
      EXPECT_LE(err, dt == DType::F32 ? 1e-4 : 1e-2) << "relative L2 error";
      std::printf("  %s %s %s: relative L2 %.2e\n", name.c_str(), dtypeName(dt), c.shape.str().c_str(), err);
      // The output must depend on the inputs: a different timestep changes it.
      if (c.shape.n == 1 && c.shape.h == opts.height && dt == DType::F32) {
        std::vector<float> t2 = c.timesteps;
        t2[0] += 100.0f;
        const std::vector<float> other = graph.run({c.sample, t2, c.labels, c.values});
        EXPECT_GT(test::relativeL2(other, c.expected), 1e-3) << "the timestep had no effect";
        if (!c.values.empty()) {  // and so does the float class label (the conditioning's noise level)
          std::vector<float> v2 = c.values;
          v2[0] -= 0.5f;
          const std::vector<float> shifted = graph.run({c.sample, c.timesteps, c.labels, v2});
          EXPECT_GT(test::relativeL2(shifted, c.expected), 1e-3) << "the float class label had no effect";
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, UnetGraphPyTorch,
                         ::testing::Values("two_level_default", "three_level_scale_shift", "attn_resnet_resample",
                                           "sr_timestep_class", "ddpm_pad0"));

// A tileable request on a zero-padded model: the graph built with the package's zeros, the
// Program built with circular padding per dispatch (as the generator does), against PyTorch with
// padding_mode "circular" (tile_*.safetensors). ddpm_pad0's downsamplers pad right and bottom
// only (downsample_padding 0), so the one extra row and column wrap around to row and column 0.
class UnetGraphTileable : public GpuTest {};

TEST_F(UnetGraphTileable, CircularPerDispatchMatchesPyTorchCircular) {
  const std::string name = "ddpm_pad0";
  const model::ModelPackage package = convert(name);
  const std::vector<IoCase> cases = readCases(name, "tile_", false);
  ASSERT_EQ(cases.size(), 2u) << "tileable fixture cases of " << name;
  UnetGraphOptions opts = largest(cases);
  for (DType dt : precisions()) {
    opts.dtype = dt;
    UnetGraph graph(gpu(), kernels(), package, opts);
    ASSERT_EQ(graph.padding(), ops::Padding::Zeros);
    for (const IoCase& c : cases) {
      SCOPED_TRACE(name + " tileable " + dtypeName(dt) + " " + c.shape.str());
      graph.prepare(c.shape.n, c.shape.h, c.shape.w);
      const std::unique_ptr<Program> tiled =
          graph.buildProgram(c.shape.n, c.shape.h, c.shape.w, ops::Padding::Circular);
      graph.writeInputs({c.sample, c.timesteps, c.labels, c.values});
      test::runProgram(gpu(), *tiled);
      const std::vector<float> got = graph.readOutput();
      ASSERT_EQ(got.size(), c.expected.size());
      const double err = test::relativeL2(got, c.expected);
      EXPECT_LE(err, dt == DType::F32 ? 1e-4 : 1e-2) << "relative L2 error";
      std::printf("  %s tileable %s %s: relative L2 %.2e\n", name.c_str(), dtypeName(dt),
                  c.shape.str().c_str(), err);
      // The prepared (zero-padded) Program gives the other answer.
      const std::vector<float> plain = graph.run({c.sample, c.timesteps, c.labels, c.values});
      EXPECT_GT(test::relativeL2(plain, c.expected), 1e-3) << "circular padding had no effect";
    }
  }
}

class UnetGraphRefusals : public GpuTest {};

TEST_F(UnetGraphRefusals, SizeNotAMultipleOfTheLevels) {
  const model::ModelPackage package = convert("three_level_scale_shift");
  UnetGraphOptions opts{1, 16, 10, DType::F32, std::nullopt};
  test::expectError([&] { UnetGraph g(gpu(), kernels(), package, opts); }, ErrorCode::InvalidArgument,
                    "not a multiple of 4");
  opts.width = 16;
  UnetGraph g(gpu(), kernels(), package, opts);
  test::expectError([&] { g.prepare(1, 6, 8); }, ErrorCode::InvalidArgument, "not a multiple of 4");
}

TEST_F(UnetGraphRefusals, RequestBeyondTheArena) {
  const model::ModelPackage package = convert("two_level_default");
  UnetGraph g(gpu(), kernels(), package, UnetGraphOptions{1, 8, 8, DType::F32, std::nullopt});
  test::expectError([&] { g.prepare(3, 8, 8); }, ErrorCode::OutOfArena, "arena was built for batch 1 at 8x8");
  test::expectError([&] { g.prepare(1, 16, 16); }, ErrorCode::OutOfArena, "arena was built for batch 1 at 8x8");
  // A refused request leaves the graph usable at a size that fits.
  g.prepare(1, 8, 4);
  const std::vector<float> sample(3 * 8 * 4, 0.5f), t{10.0f};
  const std::vector<int64_t> y{2};
  const std::vector<float> out = g.run({sample, t, y});
  EXPECT_EQ(out.size(), sample.size());
}

TEST_F(UnetGraphRefusals, WrongInputs) {
  const model::ModelPackage package = convert("two_level_default");
  UnetGraph g(gpu(), kernels(), package, UnetGraphOptions{2, 8, 8, DType::F32, std::nullopt});
  const std::vector<float> sample(2 * 3 * 8 * 8, 0.5f), t{10.0f};
  const std::vector<int64_t> y{1, 2}, bad{5, 0};
  test::expectError([&] { g.run({std::span<const float>(sample).first(10), t, y}); }, ErrorCode::InvalidArgument,
                    "sample holds 10 values");
  test::expectError([&] { g.run({sample, t, bad}); }, ErrorCode::InvalidArgument, "class label 5");
  test::expectError([&] { g.run({sample, t, {}}); }, ErrorCode::InvalidArgument, "class-conditional");
  const std::vector<float> values{-0.5f};
  test::expectError([&] { g.run({sample, t, y, values}); }, ErrorCode::InvalidArgument,
                    "without a timestep class embedding");
}

TEST_F(UnetGraphRefusals, TimestepClassEmbeddingNeedsFloatLabels) {
  const model::ModelPackage package = convert("sr_timestep_class");
  UnetGraph g(gpu(), kernels(), package, UnetGraphOptions{2, 8, 8, DType::F32, std::nullopt});
  const std::vector<float> sample(2 * 6 * 8 * 8, 0.5f), t{10.0f}, three{-1.0f, -0.5f, 0.0f};
  const std::vector<int64_t> y{1};
  test::expectError([&] { g.run({sample, t, {}, {}}); }, ErrorCode::InvalidArgument, "timestep class embedding");
  test::expectError([&] { g.run({sample, t, {}, three}); }, ErrorCode::InvalidArgument, "got 3");
  test::expectError([&] { g.run({sample, t, y, three}); }, ErrorCode::InvalidArgument, "without a class embedding");
}

}  // namespace
}  // namespace tessera::graph
