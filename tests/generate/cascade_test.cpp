// A cascade (a base and super-resolution stages in one package) through the public API: against
// tools/train/cascade_reference.py, an independent PyTorch implementation of the same pipeline
// with the same Philox noise on every stream, from noise and from the host's init image and mask;
// seeds across batch positions; tileability at 256²;
// progress over every stage; and requests the cascade cannot run. The models are small random
// ones the script writes at test time (a 16 px base, a 4x stage, two 2x stages).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "converter.hpp"
#include "file_io.hpp"
#include "op_harness.hpp"
#include "tessera/tessera.hpp"

#if defined(__unix__)
#include <sys/wait.h>
#endif

namespace {

namespace fs = std::filesystem;
using namespace tessera;

const fs::path kRepo = fs::path(__FILE__).parent_path().parent_path().parent_path();

int runReference(const std::string& args) {
  const std::string py = std::getenv("TESSERA_PYTHON") ? std::getenv("TESSERA_PYTHON") : "/usr/bin/python3";
  const std::string cmd = "\"" + py + "\" -c 'import torch' 2>/dev/null && \"" + py + "\" \"" +
                          (kRepo / "tools" / "train" / "cascade_reference.py").string() + "\" " + args;
  int rc = std::system(cmd.c_str());
#if defined(__unix__)
  if (rc != -1 && WIFEXITED(rc)) rc = WEXITSTATUS(rc);
#endif
  return rc;
}

class CascadeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tessera_cascade_" + std::to_string(test::freshSeed()));
    fs::create_directories(dir_);
    if (runReference("--make-fixture \"" + dir_.string() + "\"") != 0) return;
    const auto write = [](const std::vector<fs::path>& stages, const char* name) {
      const model::ConvertResult r = model::convertPipelineDirs(dir_ / "base", stages, {});
      model::writeFileAtomically(dir_ / name, model::asBytes(r.package));
    };
    write({dir_ / "sr4"}, "c4.tsr");
    write({dir_ / "sr2a", dir_ / "sr2b"}, "c22.tsr");
    ready_ = true;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!ready_) GTEST_SKIP() << "no Python with PyTorch (set TESSERA_PYTHON)";
    auto cd = tsr::standaloneDesc();
    cd.validation = VK_TRUE;
    cd.on_validation_message = [](const char* m, void*) { ADD_FAILURE() << "validation: " << m; };
    ctx_.emplace(tsr::Context::standalone(cd));
  }

  tsr::Generator generator(const tsr::Model& m, uint32_t maxSize, uint32_t maxBatch = 1) {
    auto gd = tsr::generatorDesc();
    gd.max_width = gd.max_height = maxSize;
    gd.max_batch = maxBatch;
    gd.precision = TSR_PRECISION_FP32;
    return tsr::Generator(*ctx_, m, gd);
  }
  static tsr_request request(uint32_t size, uint64_t seed, int cls, std::vector<uint8_t>& out) {
    tsr_request r = tsr::request();
    r.width = r.height = size;
    r.seed = seed;
    r.class_index = cls;
    r.steps = 2;
    out.assign(std::size_t(size) * size * 4, 0xAB);  // poisoned
    r.output.pixels = out.data();
    return r;
  }

  static inline fs::path dir_;
  static inline bool ready_ = false;
  std::optional<tsr::Context> ctx_;
};

struct ParityCase {
  const char* package;
  uint32_t size;
  uint64_t seed;
  int cls;
  float strength = -1;  // >= 0: from an init image (SDEdit) at this strength
  bool mask = false;    // and keep its left part (inpainting)
};

// A host init image: smooth colour ramps plus noise, RGBA8, size x size.
std::vector<uint8_t> initImage(uint32_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> px(std::size_t(size) * size * 4);
  for (uint32_t y = 0; y < size; ++y)
    for (uint32_t x = 0; x < size; ++x)
      for (int c = 0; c < 4; ++c) {
        const double ramp = c == 3 ? 255 : 128 + 90 * std::sin(0.2 * (c + 1) * x + 0.13 * y);
        px[(std::size_t(y) * size + x) * 4 + c] = uint8_t(std::clamp(ramp + double(rng() % 31) - 15, 0.0, 255.0));
      }
  return px;
}

// Keep the left 3/8 (0), generate the right half (255), a soft band between.
std::vector<uint8_t> maskImage(uint32_t size) {
  std::vector<uint8_t> m(std::size_t(size) * size);
  for (uint32_t y = 0; y < size; ++y)
    for (uint32_t x = 0; x < size; ++x)
      m[std::size_t(y) * size + x] = x < 3 * size / 8 ? 0 : x < size / 2 ? uint8_t(40 + 20 * (y % 8)) : 255;
  return m;
}

template <class T>
void writeBytes(const fs::path& p, const std::vector<T>& v) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size()));
}

class CascadeParity : public CascadeTest, public ::testing::WithParamInterface<ParityCase> {};

TEST_P(CascadeParity, MatchesThePyTorchCascade) {
  const ParityCase c = GetParam();
  const std::string tag = std::to_string(test::freshSeed());
  const fs::path model = dir_ / c.package, ref = dir_ / ("ref_" + tag);
  const std::vector<uint8_t> init = initImage(c.size, c.seed), mask = maskImage(c.size);
  std::string inputs;
  if (c.strength >= 0) {
    writeBytes(dir_ / ("init_" + tag), init);
    inputs = " --init \"" + (dir_ / ("init_" + tag)).string() + "\" --strength " + std::to_string(c.strength);
    if (c.mask) {
      writeBytes(dir_ / ("mask_" + tag), mask);
      inputs += " --mask \"" + (dir_ / ("mask_" + tag)).string() + "\"";
    }
  }
  ASSERT_EQ(runReference("--check \"" + model.string() + "\" " + std::to_string(c.size) + " 2 " +
                         std::to_string(c.seed) + " " + std::to_string(c.cls) + " \"" + ref.string() + "\"" + inputs),
            0);
  std::ifstream in(ref, std::ios::binary);
  const std::vector<uint8_t> want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(want.size(), std::size_t(c.size) * c.size * 4);
  tsr::Model m = tsr::Model::load(model.string());
  tsr::Generator gen = generator(m, std::max(64u, c.size));
  std::vector<uint8_t> got;
  tsr_request r = request(c.size, c.seed, c.cls, got);
  if (c.strength >= 0) {
    r.init_rgba = init.data();
    r.strength = c.strength;
    if (c.mask) r.mask = mask.data();
  }
  gen.generate({&r, 1});
  double sum = 0;
  int worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const int d = std::abs(int(got[i]) - int(want[i]));
    sum += d;
    worst = std::max(worst, d);
  }
  std::printf("  %s at %u: mean |difference| %.4f, largest %d (8-bit levels)\n", c.package, c.size,
              sum / double(got.size()), worst);
  EXPECT_LT(sum / double(got.size()), 0.05);
  EXPECT_LE(worst, 3);
}

INSTANTIATE_TEST_SUITE_P(Cascades, CascadeParity,
                         ::testing::Values(ParityCase{"c4.tsr", 64, 7, 1},    // base 16 -> 4x
                                           ParityCase{"c4.tsr", 16, 3, 2},    // the base alone
                                           ParityCase{"c22.tsr", 64, 11, 0},  // 16 -> 2x -> 2x
                                           ParityCase{"c22.tsr", 32, 5, 1},   // one of the two stages
                                           // SDEdit and inpainting through every stage
                                           ParityCase{"c4.tsr", 64, 8, 0, 0.5f},
                                           ParityCase{"c4.tsr", 64, 12, 2, 1.0f, true},
                                           ParityCase{"c22.tsr", 64, 13, 1, 0.6f, true},
                                           // 512²: the stage's GroupNorms walk 6 x 512² values per group
                                           ParityCase{"c4.tsr", 512, 9, 1}),
                         [](const auto& info) {
                           const ParityCase& p = info.param;
                           return std::string(p.package[1] == '4' ? "c4_" : "c22_") + std::to_string(p.size) +
                                  (p.strength < 0 ? "" : p.mask ? "_inpaint" : "_sdedit");
                         });

TEST_F(CascadeTest, SeedGivesTheSameTextureAtAnyBatchPositionAndProgressCountsEveryStage) {
  tsr::Model m = tsr::Model::load((dir_ / "c4.tsr").string());
  tsr::Generator gen = generator(m, 64, 3);
  std::vector<uint8_t> alone, a, b, c;
  tsr_request r = request(64, 9, 1, alone);
  gen.generate({&r, 1});
  const tsr_progress p1 = gen.progress();
  EXPECT_EQ(p1.evaluations_total, 4u) << "2 of the base (DPM-Solver++ 2M) and 2 of the 4x stage (consistency)";
  EXPECT_EQ(p1.evaluations_done, 4u);
  tsr_request three[] = {request(64, 5, 0, a), request(64, 9, 1, b), request(64, 6, 2, c)};
  gen.generate(three);
  EXPECT_EQ(b, alone) << "the second of three equals the same seed alone";
  EXPECT_NE(a, b);
  EXPECT_EQ(gen.progress().evaluations_total, 4u);
}

TEST_F(CascadeTest, TileableAt256) {
  tsr::Model m = tsr::Model::load((dir_ / "c4.tsr").string());
  tsr::Generator gen = generator(m, 256);
  std::vector<uint8_t> px;
  tsr_request r = request(256, 17, 0, px);
  r.tiling = TSR_TILING_TILEABLE;
  gen.generate({&r, 1});
  auto at = [&](uint32_t x, uint32_t y, int ch) { return double(px[(std::size_t(y) * 256 + x) * 4 + ch]); };
  double wrap = 0, inner = 0;
  for (int ch = 0; ch < 3; ++ch)
    for (uint32_t y = 0; y < 256; ++y) {
      wrap += std::abs(at(0, y, ch) - at(255, y, ch)) + std::abs(at(y, 0, ch) - at(y, 255, ch));
      for (uint32_t x = 0; x + 1 < 256; ++x)
        inner += std::abs(at(x + 1, y, ch) - at(x, y, ch)) + std::abs(at(y, x + 1, ch) - at(y, x, ch));
    }
  const double score = (wrap / (2 * 3 * 256.0)) / std::max(inner / (2 * 3 * 256.0 * 255.0), 1e-9);
  std::printf("  seam score at 256x256 (wrap-edge / interior gradient): %.3f\n", score);
  EXPECT_LT(score, 1.3);
}

// Through both stages, strength 0 returns the host's image and inpainting keeps its kept region,
// byte for byte, at a size the cascade makes.
TEST_F(CascadeTest, InitImageAndMaskHoldExactlyAtCascadeSizes) {
  for (const char* package : {"c4.tsr", "c22.tsr"}) {
    SCOPED_TRACE(package);
    tsr::Model m = tsr::Model::load((dir_ / package).string());
    tsr::Generator gen = generator(m, 64, 2);
    const std::vector<uint8_t> init = initImage(64, 21), mask = maskImage(64);
    std::vector<uint8_t> same, kept, plain;
    tsr_request r[] = {request(64, 3, 1, same), request(64, 4, 2, kept)};
    r[0].init_rgba = r[1].init_rgba = init.data();
    r[0].strength = 0.0f;
    r[1].strength = 1.0f;
    r[1].mask = mask.data();
    gen.generate(r);
    std::size_t keptDiffer = 0, generatedDiffer = 0;
    for (std::size_t i = 0; i < same.size(); ++i) {
      const bool alpha = i % 4 == 3;
      ASSERT_EQ(same[i], alpha ? 255 : init[i]) << "strength 0, byte " << i;
      const std::size_t x = i / 4 % 64;
      if (alpha) continue;
      if (x < 3 * 64 / 8) keptDiffer += kept[i] != init[i];
      else if (x >= 32) generatedDiffer += kept[i] != init[i];
    }
    EXPECT_EQ(keptDiffer, 0u) << "the kept region of the inpainted texture";
    EXPECT_GT(generatedDiffer, 64u * 32 * 3 / 2) << "the generated region should mostly differ from the init image";
    tsr_request p = request(64, 4, 2, plain);
    gen.generate({&p, 1});
    EXPECT_NE(plain, kept);
  }
}

TEST_F(CascadeTest, BadRequestsAndSizesAreRefusedNamingTheProblem) {
  tsr::Model m = tsr::Model::load((dir_ / "c4.tsr").string());
  const tsr_model_info info = m.info();
  EXPECT_EQ(info.native_size, 16u);
  EXPECT_EQ(info.stage_count, 1u);
  EXPECT_EQ(info.cascade_scale, 4u);
  EXPECT_EQ(tsr::Model::load((dir_ / "c22.tsr").string()).info().stage_count, 2u);
  tsr::Generator gen = generator(m, 64);
  tsr_generator g = gen.get();
  std::vector<uint8_t> px;
  const auto refused = [&](tsr_request r, tsr_result code, const std::string& needle) {
    EXPECT_EQ(tsr_generator_begin(g, &r, 1), code);
    EXPECT_NE(std::string(tsr_last_error()).find(needle), std::string::npos) << tsr_last_error();
  };
  refused(request(42, 1, 0, px), TSR_ERROR_INVALID_ARGUMENT, "the base at 1/4 of it, and must be a multiple of 8 (e.g. 24x24)");
  refused(request(128, 1, 0, px), TSR_ERROR_OUT_OF_ARENA, "exceeds the 64x64");
  tsr_request masked = request(64, 1, 0, px);
  const std::vector<uint8_t> mask = maskImage(64);
  masked.mask = mask.data();
  refused(masked, TSR_ERROR_INVALID_ARGUMENT, "a mask needs an init image");
  // A refused job leaves the generator usable.
  tsr_request ok = request(64, 1, 0, px);
  gen.generate({&ok, 1});
  // A max size the cascade cannot make is refused at creation, and the arena does not fit a huge one.
  auto gd = tsr::generatorDesc();
  gd.max_width = gd.max_height = 66;
  tsr_generator bad = nullptr;
  EXPECT_EQ(tsr_generator_create(ctx_->get(), m.get(), &gd, &bad), TSR_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(tsr_last_error()).find("max size 66x66"), std::string::npos) << tsr_last_error();
  EXPECT_EQ(bad, nullptr);
}

}  // namespace
