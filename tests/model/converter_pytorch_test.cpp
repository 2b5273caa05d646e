// The converter against models that PyTorch built: tests/model/make_unet_fixtures.py saves
// tools/train/unet.py models (diffusers' module tree and parameter names) in every supported
// block form and source dtype. The package must hold exactly the state_dict's keys and shapes
// and its values (checked by sums the script computed in float64, not by this reader).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "converter.hpp"
#include "file_io.hpp"
#include "model_package.hpp"
#include "op_harness.hpp"

#if defined(__unix__)
#include <sys/wait.h>
#endif

namespace tessera::model {
namespace {

namespace fs = std::filesystem;

class ConverterPyTorch : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tessera_fixtures_" + std::to_string(test::freshSeed()));
    const fs::path repo = fs::path(__FILE__).parent_path().parent_path().parent_path();
    const fs::path script = repo / "tests" / "model" / "make_unet_fixtures.py";
    const fs::path log = dir_.string() + ".log";
    std::vector<std::string> pythons;
    if (const char* p = std::getenv("TESSERA_PYTHON")) pythons.push_back(p);
    pythons.push_back("/usr/bin/python3");  // Debian's, where python3-torch installs
    pythons.push_back("python3");
    for (const std::string& py : pythons) {
      const std::string cmd = "\"" + py + "\" \"" + script.string() + "\" \"" + dir_.string() + "\" > \"" +
                              log.string() + "\" 2>&1";
      int rc = std::system(cmd.c_str());
#if defined(__unix__)
      if (rc != -1 && WIFEXITED(rc)) rc = WEXITSTATUS(rc);
#endif
      if (rc == 77 || rc == 127) continue;  // no PyTorch / no such interpreter: try the next
      if (rc != 0) {
        std::ifstream in(log);
        std::stringstream ss;
        ss << in.rdbuf();
        failure_ = "the fixture script failed (exit " + std::to_string(rc) + "):\n" + ss.str();
      }
      ready_ = rc == 0;
      break;
    }
    fs::remove(log);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  void SetUp() override {
    if (!failure_.empty()) FAIL() << failure_;
    if (!ready_) GTEST_SKIP() << "no Python with PyTorch (set TESSERA_PYTHON) to write the fixtures";
  }

  // Converts `name` and checks every tensor against the script's expected.json.
  ModelPackage check(const std::string& name, DType dtype) {
    const fs::path model = dir_ / name;
    const fs::path unet = fs::exists(model / "unet") ? model / "unet" : model;
    const std::vector<std::byte> expText = readFileBytes(unet / "expected.json", 1 << 24);
    const Json expected = parseJsonStrict(asText(asBytes(expText)), ErrorCode::CorruptModel, "expected.json");
    ConvertResult r = convertModelDir(model, ConvertOptions{dtype});
    ModelPackage p = ModelPackage::fromBuffer(std::move(r.package));
    EXPECT_EQ(p.tensors().size(), expected.size()) << name;
    for (const auto& [key, e] : expected.items()) {
      SCOPED_TRACE(name + ": " + key);
      const TsrTensor* t = p.container().find(key);
      EXPECT_NE(t, nullptr) << "the package lacks a state_dict key";
      if (!t) continue;
      EXPECT_EQ(t->dtype, dtype);
      EXPECT_EQ(Json(t->shape), e["shape"]);
      const std::vector<float> v = toFloat32(*t);
      double sum = 0, sumsq = 0;
      for (float x : v) {
        sum += x;
        sumsq += double(x) * x;
      }
      const double wantSum = e["sum"], wantSq = e["sumsq"];
      const double n = double(v.size());
      if (dtype == DType::F32) {
        EXPECT_NEAR(sum, wantSum, 1e-9 * (1 + std::sqrt(n * wantSq)));
        EXPECT_NEAR(sumsq, wantSq, 1e-9 * (1 + wantSq));
      } else {  // each value within 2^-11 relative of its source
        EXPECT_NEAR(sum, wantSum, std::ldexp(std::sqrt(n * wantSq), -11) + 1e-6);
        EXPECT_NEAR(sumsq, wantSq, std::ldexp(wantSq, -9) + 1e-6);
      }
    }
    return p;
  }

  static inline fs::path dir_;
  static inline bool ready_ = false;
  static inline std::string failure_;
};

TEST_F(ConverterPyTorch, AttentionScaleShiftClassesFromFp16) {
  const ModelPackage p = check("attn_scale_shift", DType::F32);
  EXPECT_EQ(p.metadata().tessera.paddingMode, PaddingMode::Circular);
  EXPECT_EQ(p.metadata().tessera.stepSigmas.at(2), (std::vector<double>{80.0, 1.5}));
  EXPECT_EQ(p.metadata().architecture.diffusersVersion, "0.25.0");
  check("attn_scale_shift", DType::F16);
}

TEST_F(ConverterPyTorch, ResnetResamplingWithoutMidAttention) {
  const ModelPackage p = check("resnet_resample", DType::F32);
  EXPECT_EQ(p.layout().down[0].resampler.kind, ResamplerLayout::Kind::Resnet);
  EXPECT_TRUE(p.layout().mid->attentions.empty());
  check("resnet_resample", DType::F16);
}

TEST_F(ConverterPyTorch, NoMidBlockFromBf16) {
  const ModelPackage p = check("no_mid", DType::F32);
  EXPECT_FALSE(p.layout().mid.has_value());
  check("no_mid", DType::F16);
}

TEST_F(ConverterPyTorch, PipelineFolderRecordsTheNoiseSchedule) {
  const ModelPackage p = check("pipeline", DType::F32);
  ASSERT_TRUE(p.metadata().trainingNoiseSchedule);
  EXPECT_EQ((*p.metadata().trainingNoiseSchedule)["beta_schedule"], "linear");
  EXPECT_EQ((*p.metadata().trainingNoiseSchedule)["num_train_timesteps"], 1000);
  EXPECT_EQ((*p.metadata().trainingNoiseSchedule)["prediction_type"], "epsilon");
}

}  // namespace
}  // namespace tessera::model
