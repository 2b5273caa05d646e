// Whole generations through the public API against an independent PyTorch implementation:
// tools/bench/gen_torch.py rebuilds the network from the same package (tools/train/unet.py),
// starts from the same Philox noise (tools/train/philox_noise.py) and runs tools/train/edm.py's
// samplers. So the network, the noise, the sampler's coefficients, the state updates, the
// encoding and the copies out are all checked at once, to within 8-bit rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "op_harness.hpp"
#include "tessera/tessera.hpp"

#if defined(__unix__)
#include <sys/wait.h>
#endif

namespace {

namespace fs = std::filesystem;

const fs::path kRepo = fs::path(__FILE__).parent_path().parent_path().parent_path();

// Exit status of the script, or -1 when no interpreter with PyTorch could run it.
int runTorch(const std::string& args) {
  std::vector<std::string> pythons;
  if (const char* p = std::getenv("TESSERA_PYTHON")) pythons.push_back(p);
  pythons.push_back("/usr/bin/python3");
  for (const std::string& py : pythons) {
    const std::string cmd = "\"" + py + "\" -c 'import torch' 2>/dev/null && \"" + py + "\" \"" +
                            (kRepo / "tools" / "bench" / "gen_torch.py").string() + "\" " + args;
    int rc = std::system(cmd.c_str());
#if defined(__unix__)
    if (rc != -1 && WIFEXITED(rc)) rc = WEXITSTATUS(rc);
#endif
    if (rc == 1 && !fs::exists(py)) continue;
    return rc;
  }
  return -1;
}

struct Case {
  tsr_sampler sampler;
  const char* name;
  uint32_t size, steps;
  uint64_t seed;
  int cls;
};

class PyTorchParity : public ::testing::TestWithParam<Case> {};

TEST_P(PyTorchParity, TextureMatchesPyTorchSampling) {
  const Case c = GetParam();
  const fs::path model = kRepo / "models" / "default.tsr";
  if (c.sampler == TSR_SAMPLER_CONSISTENCY) {
    const tsr_model_info info = tsr::Model::load(model.string()).info();
    if (!(info.consistency_steps & (1u << c.steps)))
      GTEST_SKIP() << "the default model has no distilled sigmas for " << c.steps << " steps";
  }
  const fs::path ref = fs::temp_directory_path() / ("tessera_parity_" + std::to_string(tessera::test::freshSeed()));
  const int rc = runTorch("--check \"" + model.string() + "\" " + std::to_string(c.size) + " " +
                          std::to_string(c.steps) + " " + std::to_string(c.seed) + " " + std::to_string(c.cls) + " " +
                          c.name + " \"" + ref.string() + "\" --threads 1");
  if (rc == -1) GTEST_SKIP() << "no Python with PyTorch (set TESSERA_PYTHON)";
  ASSERT_EQ(rc, 0) << "gen_torch.py failed";
  std::ifstream in(ref, std::ios::binary);
  const std::vector<uint8_t> want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(ref);
  ASSERT_EQ(want.size(), size_t(c.size) * c.size * 4);

  auto cd = tsr::standaloneDesc();
  cd.validation = VK_TRUE;
  cd.on_validation_message = [](const char* m, void*) { ADD_FAILURE() << "validation: " << m; };
  tsr::Context ctx = tsr::Context::standalone(cd);
  tsr::Model m = tsr::Model::load(model.string());
  auto gd = tsr::generatorDesc();
  gd.max_width = gd.max_height = c.size;
  gd.precision = TSR_PRECISION_FP32;
  tsr::Generator gen(ctx, m, gd);
  std::vector<uint8_t> got(want.size(), 0xAB);  // poisoned
  tsr_request r = tsr::request();
  r.width = r.height = c.size;
  r.sampler = c.sampler;
  r.steps = c.steps;
  r.seed = c.seed;
  r.class_index = c.cls;
  r.guidance = 1.0f;
  r.output.pixels = got.data();
  gen.generate({&r, 1});

  double sum = 0;
  int worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const int d = std::abs(int(got[i]) - int(want[i]));
    sum += d;
    worst = std::max(worst, d);
  }
  const double mean = sum / double(got.size());
  EXPECT_LT(mean, 0.05) << "mean |difference| in 8-bit levels";
  EXPECT_LE(worst, 3) << "largest |difference| in 8-bit levels";
}

INSTANTIATE_TEST_SUITE_P(Samplers, PyTorchParity,
                         ::testing::Values(Case{TSR_SAMPLER_DPMPP_2M, "dpmpp_2m", 32, 3, 7, 2},
                                           Case{TSR_SAMPLER_HEUN, "heun", 16, 2, 11, 5},
                                           Case{TSR_SAMPLER_DPMPP_2M, "dpmpp_2m", 24, 1, 3, 9},
                                           Case{TSR_SAMPLER_CONSISTENCY, "consistency", 32, 2, 5, 1},
                                           Case{TSR_SAMPLER_CONSISTENCY, "consistency", 16, 1, 8, 4}),
                         [](const auto& info) { return std::string(info.param.name) + "_" + std::to_string(info.index); });

}  // namespace
