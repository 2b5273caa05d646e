// tessera-convert as a user runs it: usage, exit statuses, the summary, and that a refused
// conversion leaves an existing output file as it was.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "file_io.hpp"
#include "model_fixtures.hpp"
#include "model_package.hpp"
#include "cli_run.hpp"
#include "op_harness.hpp"

namespace tessera::model {
namespace {

namespace fs = std::filesystem;

class ConvertCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tool_ = test::builtTool("TESSERA_CONVERT", "convert", "tessera-convert");
    if (tool_.empty() || !fs::exists(tool_))
      GTEST_SKIP() << "tessera-convert not built (set TESSERA_CONVERT)";
    dir_ = fs::temp_directory_path() / ("tessera_cli_" + std::to_string(test::freshSeed()));
    fs::create_directories(dir_ / "model");
    std::mt19937_64 rng(test::freshSeed());
    std::ofstream(dir_ / "model" / "config.json") << fixtures::tinyConfig().dump();
    const auto st = writeSafetensors(fixtures::randomCheckpoint(fixtures::tinyConfig(), rng));
    writeFileAtomically(dir_ / "model" / "diffusion_pytorch_model.safetensors", asBytes(st));
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  test::CliResult run(const std::string& args) { return test::runTool(tool_, args, dir_); }
  std::string q(const fs::path& p) { return test::quoted(p); }

  fs::path tool_, dir_;
};

TEST_F(ConvertCli, HelpAndUsage) {
  test::CliResult r = run("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("usage: tessera-convert MODEL_DIR OUT.tsr [--scheduler PATH] [--stage SR_DIR]... [--fp16]"), std::string::npos);
  r = run("");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("usage:"), std::string::npos);
  r = run("--bogus a b");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown option --bogus"), std::string::npos);
}

TEST_F(ConvertCli, ConvertsAndSummarises) {
  const fs::path out = dir_ / "tiny.tsr";
  test::CliResult r = run(q(dir_ / "model") + " " + q(out) + " --fp16");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("tensors    "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(f16)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters "), std::string::npos) << r.out;
  const ModelPackage p = ModelPackage::readFile(out);
  EXPECT_EQ(p.tensors()[0].dtype, DType::F16);
  EXPECT_NE(r.out.find("in the package"), std::string::npos);
  std::string size = std::to_string(fs::file_size(out));
  for (int i = int(size.size()) - 3; i > 0; i -= 3)
    size = size.substr(0, std::size_t(i)) + "," + size.substr(std::size_t(i));
  EXPECT_NE(r.out.find(size + " in the package"), std::string::npos) << r.out;
}

TEST_F(ConvertCli, WritesACascadeFromABaseAndItsStages) {
  std::mt19937_64 rng(test::freshSeed());
  for (const char* name : {"sr1", "sr2"}) {
    fs::create_directories(dir_ / name);
    std::ofstream(dir_ / name / "config.json") << fixtures::tinySrConfig(2).dump();
    const auto st = writeSafetensors(fixtures::randomCheckpoint(fixtures::tinySrConfig(2), rng));
    writeFileAtomically(dir_ / name / "diffusion_pytorch_model.safetensors", asBytes(st));
  }
  const fs::path out = dir_ / "cascade.tsr";
  test::CliResult r = run(q(dir_ / "model") + " --stage " + q(dir_ / "sr1") + " " + q(out) + " --stage " +
                          q(dir_ / "sr2") + " --fp16");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("stage 1    "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stage 2    "), std::string::npos) << r.out;
  const ModelPackage p = ModelPackage::readFile(out);
  ASSERT_EQ(p.stages().size(), 2u);
  EXPECT_EQ(p.totalScale(), 4u);
  r = run(q(dir_ / "model") + " " + q(out) + " --stage");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--stage needs a model folder"), std::string::npos) << r.err;
  // A stage that does not take the base's output is refused, naming it.
  r = run(q(dir_ / "model") + " --stage " + q(dir_ / "model") + " " + q(dir_ / "bad.tsr"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("stage 1:"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "bad.tsr"));
}

TEST_F(ConvertCli, ARefusedModelLeavesTheOutputAlone) {
  const fs::path out = dir_ / "keep.tsr";
  std::ofstream(out) << "previous";
  std::ofstream(dir_ / "model" / "config.json")
      << fixtures::tinyConfig().dump().replace(1, 0, "\"cross_attention_dim\": 8,");
  const test::CliResult r = run(q(dir_ / "model") + " " + q(out));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("\"cross_attention_dim\""), std::string::npos) << r.err;
  std::ifstream in(out);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "previous");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 4)
      << "model, keep.tsr, stdout, stderr";
}

}  // namespace
}  // namespace tessera::model
