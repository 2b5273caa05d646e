// tessera-eval as a user runs it on a class-conditional fixture model (tests/graph/fixtures):
// class labels as PyTorch keeps them (I64), as I32 and as whole-number floats give the same
// output, which matches PyTorch's; labels that are not whole numbers or not classes are refused.
// With --stage, the network of a cascade's super-resolution stage, against PyTorch's output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "converter.hpp"
#include "file_io.hpp"
#include "cli_run.hpp"
#include "op_harness.hpp"
#include "safetensors.hpp"

namespace tessera::model {
namespace {

namespace fs = std::filesystem;

fs::path fixtures() { return fs::path(__FILE__).parent_path() / "fixtures"; }

std::vector<std::byte> encodeInts(const std::vector<int64_t>& v, std::size_t size) {
  std::vector<std::byte> out;
  for (int64_t x : v) {
    uint64_t u = uint64_t(x);
    for (std::size_t b = 0; b < size; ++b, u >>= 8) out.push_back(std::byte(u & 0xFF));
  }
  return out;
}

std::vector<std::byte> encodeFloats(const std::vector<float>& v) {
  std::vector<std::byte> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = test::builtTool("TESSERA_EVAL", "eval", "tessera-eval");
    if (tool_.empty() || !fs::exists(tool_)) GTEST_SKIP() << "tessera-eval not built (set TESSERA_EVAL)";
    dir_ = fs::temp_directory_path() / ("tessera_eval_cli_" + std::to_string(test::freshSeed()));
    fs::create_directories(dir_);
    // A batch-3 case, so one label per item is read from each tensor.
    const ConvertResult r = convertModelDir(fixtures() / "two_level_default", ConvertOptions{DType::F32});
    writeFileAtomically(dir_ / "model.tsr", asBytes(r.package));
    ioBytes_ = readFileBytes(fixtures() / "two_level_default" / "io_b3_16x16.safetensors", 1 << 24);
    const SafetensorsFile io = SafetensorsFile::parse(asBytes(ioBytes_));
    for (const SafeTensor& t : io.tensors()) {
      if (t.name == "expected") {
        expected_ = toFloat32(t);
      } else if (t.name == "class_labels") {
        for (float v : toFloat32(t)) labels_.push_back(int64_t(v));
      } else {
        base_.push_back({t.name, t.dtype, t.shape, std::vector<std::byte>(t.data.begin(), t.data.end())});
      }
    }
    ASSERT_EQ(labels_.size(), 3u);
    ASSERT_FALSE(expected_.empty());
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Writes the fixture's inputs with `labels` as the class labels and runs the tool on them.
  test::CliResult run(const SafeTensorIn& labels, const std::string& name) {
    std::vector<SafeTensorIn> in = base_;
    in.push_back(labels);
    writeFileAtomically(dir_ / (name + ".in.safetensors"), asBytes(writeSafetensors(in)));
    std::string args;
    for (const fs::path& arg : {dir_ / "model.tsr", dir_ / (name + ".in.safetensors"), dir_ / (name + ".out.safetensors")})
      args.append(" ").append(test::quoted(arg));
    test::CliResult r = test::runTool(tool_, args, dir_);
    return r;
  }

  std::vector<float> output(const std::string& name) {
    const std::vector<std::byte> bytes = readFileBytes(dir_ / (name + ".out.safetensors"), 1 << 24);
    const SafetensorsFile f = SafetensorsFile::parse(asBytes(bytes));
    const SafeTensor* s = f.find("sample");
    if (!s) return {};
    return toFloat32(*s);
  }

  fs::path tool_, dir_;
  std::vector<std::byte> ioBytes_;
  std::vector<SafeTensorIn> base_;
  std::vector<float> expected_;
  std::vector<int64_t> labels_;
};

TEST_F(EvalCli, IntegerAndFloatLabelsGiveTheSameOutput) {
  std::vector<float> asFloat(labels_.begin(), labels_.end());
  test::CliResult r = run({"class_labels", SafeDType::F32, {3}, encodeFloats(asFloat)}, "f32");
  ASSERT_EQ(r.status, 0) << r.err;
  r = run({"class_labels", SafeDType::I64, {3}, encodeInts(labels_, 8)}, "i64");
  ASSERT_EQ(r.status, 0) << r.err;
  r = run({"class_labels", SafeDType::I32, {3}, encodeInts(labels_, 4)}, "i32");
  ASSERT_EQ(r.status, 0) << r.err;
  const std::vector<float> f = output("f32"), i64 = output("i64"), i32 = output("i32");
  ASSERT_EQ(f.size(), expected_.size());
  // The same program on the same device: the outputs agree bit for bit.
  EXPECT_EQ(i64, f);
  EXPECT_EQ(i32, f);
  EXPECT_LE(test::relativeL2(i64, expected_), 1e-4) << "against PyTorch";

  // The labels matter: other classes give another output.
  std::vector<int64_t> other = labels_;
  for (int64_t& y : other) y = (y + 1) % 5;
  r = run({"class_labels", SafeDType::I64, {3}, encodeInts(other, 8)}, "other");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GT(test::relativeL2(output("other"), expected_), 1e-3) << "the class labels had no effect";
}

TEST_F(EvalCli, BadLabelsAreRefused) {
  test::CliResult r = run({"class_labels", SafeDType::I64, {3}, encodeInts({0, 5, 1}, 8)}, "range");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("class label 5"), std::string::npos) << r.err;
  r = run({"class_labels", SafeDType::I32, {3}, encodeInts({0, -1, 1}, 4)}, "negative");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("class label -1"), std::string::npos) << r.err;
  r = run({"class_labels", SafeDType::F32, {3}, encodeFloats({0.0f, 1.5f, 1.0f})}, "fraction");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("must be whole numbers"), std::string::npos) << r.err;
  r = run({"class_labels", SafeDType::F32, {3}, encodeFloats({0.0f, 1e30f, 1.0f})}, "huge");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("too large to be a class"), std::string::npos) << r.err;
  r = run({"class_labels", SafeDType::I64, {2}, encodeInts({0, 1}, 8)}, "count");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("class labels"), std::string::npos) << r.err;
}

TEST_F(EvalCli, StageRunsTheSuperResolutionNetworkOfACascade) {
  // The SR fixture network (6 channels in, float class labels: ln(sigma_aug)/4) as stage 1 after
  // the class-conditional base.
  const fs::path stage = dir_ / "stage";
  fs::create_directories(stage);
  fs::copy_file(fixtures() / "sr_timestep_class" / "diffusion_pytorch_model.safetensors",
                stage / "diffusion_pytorch_model.safetensors");
  std::ifstream in(fixtures() / "sr_timestep_class" / "config.json");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string padding = "\"padding_mode\": \"circular\"";
  ASSERT_NE(config.find(padding), std::string::npos);
  config.replace(config.find(padding), padding.size(),
                 padding + ", \"stage\": \"super_resolution\", \"scale_factor\": 2, \"cond_sigma\": 0.1, \"sigma_data\": 0.5");
  std::ofstream(stage / "config.json") << config;
  const ConvertResult r =
      convertPipelineDirs(fixtures() / "two_level_default", {stage}, ConvertOptions{DType::F32});
  writeFileAtomically(dir_ / "cascade.tsr", asBytes(r.package));

  const fs::path io = fixtures() / "sr_timestep_class" / "io_b3_16x16.safetensors";
  const std::string model = test::quoted(dir_ / "cascade.tsr"), out = test::quoted(dir_ / "stage.out.safetensors");
  test::CliResult res = test::runTool(tool_, " " + model + " " + test::quoted(io) + " " + out + " --stage 1", dir_);
  ASSERT_EQ(res.status, 0) << res.err;
  const std::vector<std::byte> ioBytes = readFileBytes(io, 1 << 24);
  const SafetensorsFile ioFile = SafetensorsFile::parse(asBytes(ioBytes));
  const std::vector<float> want = toFloat32(*ioFile.find("expected"));
  const std::vector<float> got = output("stage");
  ASSERT_EQ(got.size(), want.size());
  EXPECT_LE(test::relativeL2(got, want), 1e-4) << "against PyTorch";

  // The base is not the stage: without --stage the 6-channel input is refused.
  res = test::runTool(tool_, " " + model + " " + test::quoted(io) + " " + out, dir_);
  EXPECT_EQ(res.status, 1);
  EXPECT_NE(res.err.find("must be [N, 3, H, W]"), std::string::npos) << res.err;
  res = test::runTool(tool_, " " + model + " " + test::quoted(io) + " " + out + " --stage 2", dir_);
  EXPECT_EQ(res.status, 1);
  EXPECT_NE(res.err.find("has 1 super-resolution stage(s)"), std::string::npos) << res.err;
  res = test::runTool(tool_, " " + model + " --sample " + test::quoted(io) + " " + out + " --stage 1", dir_);
  EXPECT_EQ(res.status, 2);
  EXPECT_NE(res.err.find("--stage runs one network evaluation"), std::string::npos) << res.err;
}

}  // namespace
}  // namespace tessera::model
