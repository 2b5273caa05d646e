// Generating through tsr_generate on a standalone context: what a request's fields promise.
// Expected outputs are never stored: each test compares generations that the API says must
// agree (the same request twice, a seed alone and inside a batch, samplers that reduce to the
// same update, guidance 0 and the unconditional class), or checks a property derived in the
// test (the init image returned, the kept region of an inpainting, no seam, linear light).
#include <random>

#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

// Records every progress callback.
struct ProgressLog {
  std::vector<tsr_progress> calls;
  static void callback(const tsr_progress* p, void* user) {
    static_cast<ProgressLog*>(user)->calls.push_back(*p);
  }
  uint32_t total() const { return calls.empty() ? UINT32_MAX : calls.back().evaluations_total; }
};

class ApiGenerateTest : public StandaloneApiTest {
 public:
  static void TearDownTestSuite() {
    generators_.clear();
    StandaloneApiTest::TearDownTestSuite();
  }

 protected:
  // The suite's generator of a precision: up to 32x32 and 3 requests, built once.
  static tsr_generator gen(tsr_precision p = TSR_PRECISION_AUTO) {
    for (auto& [precision, g] : generators_)
      if (precision == p) return g.get();
    GeneratorSpec spec;
    spec.maxWidth = spec.maxHeight = 32;
    spec.maxBatch = 3;
    spec.precision = p;
    spec.prepared = {{16, 16, 1}, {16, 16, 3}, {32, 32, 1}};
    generators_.emplace_back(p, makeGenerator(context(), model(), spec));
    return generators_.back().second.get();
  }
  // FP32 always, FP16 storage when the context has it.
  static std::vector<tsr_precision> precisions() {
    tsr_context_info info;
    tsr_context_info_defaults(&info);
    tsr_context_get_info(context(), &info);
    std::vector<tsr_precision> p{TSR_PRECISION_FP32};
    if (info.fp16_storage) p.push_back(TSR_PRECISION_FP16);
    return p;
  }
  static const char* name(tsr_precision p) {
    return p == TSR_PRECISION_FP32 ? "fp32" : p == TSR_PRECISION_FP16 ? "fp16" : "auto";
  }

  void SetUp() override {
    StandaloneApiTest::SetUp();
    seed_ = freshSeed();
    rng_.seed(seed_);
  }
  // A seed per use, printed with any failure.
  uint64_t seed() { return rng_() >> 1; }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;

 private:
  static inline std::vector<std::pair<tsr_precision, GeneratorPtr>> generators_;
};

#define TRACE_SEED() SCOPED_TRACE("test seed " + std::to_string(seed_) + " (TESSERA_TEST_SEED reproduces it)")

std::vector<uint8_t> randomImage(std::mt19937_64& rng, uint32_t w, uint32_t h) {
  std::vector<uint8_t> px(std::size_t(w) * h * 4);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = i % 4 == 3 ? 255 : uint8_t(rng());
  return px;
}

// Mean |difference| across the wrap-around edges over the mean |difference| of interior
// neighbours, in sRGB levels over R, G, B: about 1 for a texture that tiles.
double seamScore(const std::vector<uint8_t>& px, uint32_t w, uint32_t h) {
  auto at = [&](uint32_t x, uint32_t y, int c) { return double(px[(std::size_t(y) * w + x) * 4 + c]); };
  double wrap = 0, inner = 0;
  std::size_t nWrap = 0, nInner = 0;
  for (int c = 0; c < 3; ++c) {
    for (uint32_t y = 0; y < h; ++y) {
      wrap += std::abs(at(0, y, c) - at(w - 1, y, c)), ++nWrap;
      for (uint32_t x = 0; x + 1 < w; ++x) inner += std::abs(at(x + 1, y, c) - at(x, y, c)), ++nInner;
    }
    for (uint32_t x = 0; x < w; ++x) {
      wrap += std::abs(at(x, 0, c) - at(x, h - 1, c)), ++nWrap;
      for (uint32_t y = 0; y + 1 < h; ++y) inner += std::abs(at(x, y + 1, c) - at(x, y, c)), ++nInner;
    }
  }
  return (wrap / double(nWrap)) / std::max(inner / double(nInner), 1e-9);
}

TEST_F(ApiGenerateTest, SameRequestGivesIdenticalBytes) {
  TRACE_SEED();
  for (tsr_precision p : precisions()) {
    SCOPED_TRACE(name(p));
    // 20x12: not square, not a power of two, and not a prepared shape (built on first use).
    const tsr_request r = request(20, 12, seed(), 3, 2, TSR_SAMPLER_DPMPP_2M);
    const std::vector<uint8_t> first = generateOne(gen(p), r);
    EXPECT_TRUE(opaqueRgba8(first));
    EXPECT_EQ(generateOne(gen(p), r), first);
    // Another job in between leaves nothing behind that changes the next.
    generateOne(gen(p), request(16, 16, seed(), 8, 1));
    const std::vector<uint8_t> third = generateOne(gen(p), r);
    EXPECT_EQ(third, first) << firstDifference(third, first);
  }
}

TEST_F(ApiGenerateTest, SeedGivesTheSameTextureAtAnyBatchPosition) {
  TRACE_SEED();
  for (tsr_precision p : precisions()) {
    SCOPED_TRACE(name(p));
    const tsr_request a = request(16, 16, seed(), 1, 2), b = request(16, 16, seed(), 7, 2),
                      s = request(16, 16, seed(), 4, 2);
    const auto batch = generate(gen(p), {a, b, s});
    const std::vector<uint8_t> alone = generateOne(gen(p), s), aAlone = generateOne(gen(p), a);
    EXPECT_TRUE(opaqueRgba8(alone));
    EXPECT_EQ(batch[2], alone) << "position 2 of 3: " << firstDifference(batch[2], alone);
    EXPECT_EQ(batch[0], aAlone) << "position 0 of 3: " << firstDifference(batch[0], aAlone);
    EXPECT_GT(meanAbsDiff(batch[0], batch[1]), 5.0) << "different seeds and classes in one batch";
  }
}

TEST_F(ApiGenerateTest, DifferentSeedsAndClassesDiffer) {
  TRACE_SEED();
  const uint64_t s = seed();
  const std::vector<uint8_t> a = generateOne(gen(), request(16, 16, s, 5, 2));
  const std::vector<uint8_t> b = generateOne(gen(), request(16, 16, s + 1, 5, 2));
  const std::vector<uint8_t> c = generateOne(gen(), request(16, 16, s, 1, 2));
  EXPECT_GT(meanAbsDiff(a, b), 5.0) << "seeds " << s << " and " << s + 1;
  EXPECT_GT(meanAbsDiff(a, c), 1.0) << "classes 5 and 1, seed " << s;
  // The whole 64-bit seed counts, the high word included.
  const std::vector<uint8_t> d = generateOne(gen(), request(16, 16, s ^ (1ull << 40), 5, 2));
  EXPECT_GT(meanAbsDiff(a, d), 5.0);
}

// With one step every EDM sampler takes x = D(x0, sigma_max): Euler's update to sigma 0, Heun's
// last (Euler) step and DPM-Solver++(2M)'s first step are the same, so the bytes must be too.
TEST_F(ApiGenerateTest, OneStepSamplersAgree) {
  TRACE_SEED();
  const uint64_t s = seed();
  tsr_request r = request(16, 16, s, 6, 1, TSR_SAMPLER_EULER);
  const std::vector<uint8_t> euler = generateOne(gen(), r);
  EXPECT_TRUE(opaqueRgba8(euler));
  for (tsr_sampler other : {TSR_SAMPLER_HEUN, TSR_SAMPLER_DPMPP_2M, TSR_SAMPLER_DEFAULT}) {
    SCOPED_TRACE("sampler " + std::to_string(int(other)));
    r.sampler = other;
    const std::vector<uint8_t> got = generateOne(gen(), r);
    EXPECT_EQ(got, euler) << firstDifference(got, euler);
  }
}

TEST_F(ApiGenerateTest, EverySamplerGivesFiniteInRangeOutput) {
  TRACE_SEED();
  const uint64_t s = seed();
  struct Case {
    tsr_sampler sampler;
    uint32_t evaluations;  // tessera.h: Heun 2 per step, 1 for the last
  };
  std::vector<std::vector<uint8_t>> outputs;
  for (const Case& k :
       {Case{TSR_SAMPLER_EULER, 3}, Case{TSR_SAMPLER_HEUN, 5}, Case{TSR_SAMPLER_DPMPP_2M, 3}}) {
    SCOPED_TRACE("sampler " + std::to_string(int(k.sampler)));
    tsr_request r = request(16, 16, s, 2, 3, k.sampler);
    r.output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
    ProgressLog log;
    const std::vector<uint8_t> px = generate(gen(), {r}, &ProgressLog::callback, &log)[0];
    EXPECT_EQ(log.total(), k.evaluations);
    const std::vector<float> v = decodeRgba16f(px);
    ASSERT_EQ(v.size(), 16u * 16u * 4u);
    double mean = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      ASSERT_TRUE(std::isfinite(v[i])) << "value " << i;
      if (i % 4 == 3) {
        ASSERT_EQ(v[i], 1.0f) << "alpha of pixel " << i / 4;
      } else {
        ASSERT_GE(v[i], 0.0f) << i;
        ASSERT_LE(v[i], 1.0f) << i;
        mean += v[i];
      }
    }
    mean /= 16 * 16 * 3;
    EXPECT_GT(mean, 0.001) << "not all black";
    EXPECT_LT(mean, 0.999) << "not all white";
    outputs.push_back(px);
  }
  EXPECT_NE(outputs[0], outputs[1]) << "euler and heun at 3 steps";
  EXPECT_NE(outputs[0], outputs[2]) << "euler and dpmpp_2m at 3 steps";
}

TEST_F(ApiGenerateTest, DefaultsAreTheModelsSamplerAndSteps) {
  TRACE_SEED();
  tsr_model_info info;
  tsr_model_info_defaults(&info);
  TSR_ASSERT_OK(tsr_model_get_info(model(), &info));
  tsr_request r = request(16, 16, seed(), 0, 0, TSR_SAMPLER_DEFAULT);
  ProgressLog log;
  const std::vector<uint8_t> byDefault = generate(gen(), {r}, &ProgressLog::callback, &log)[0];
  EXPECT_EQ(log.total(), info.default_steps) << "steps 0: the model's default";
  r.sampler = info.default_sampler;
  r.steps = info.default_steps;
  const std::vector<uint8_t> explicitly = generateOne(gen(), r);
  EXPECT_EQ(byDefault, explicitly) << firstDifference(byDefault, explicitly);
}

TEST_F(ApiGenerateTest, SamplersTheModelCannotRunAreRefused) {
  TRACE_SEED();
  const tsr_request good = request(16, 16, seed(), 3, 1);
  const std::vector<uint8_t> before = generateOne(gen(), good);
  std::vector<uint8_t> px(16 * 16 * 4);
  // Consistency sampling runs only for the step counts the model lists distilled sigmas for
  // (none for an EDM teacher); DDIM/DDPM need a discrete-time model.
  tsr_model_info info;
  tsr_model_info_defaults(&info);
  TSR_ASSERT_OK(tsr_model_get_info(model(), &info));
  for (uint32_t steps : {1u, 2u, 3u, 4u, 5u}) {
    if (info.consistency_steps & (1u << steps)) continue;
    SCOPED_TRACE("consistency, steps " + std::to_string(steps));
    tsr_request r = request(16, 16, 1, 3, steps, TSR_SAMPLER_CONSISTENCY);
    r.output.pixels = px.data();
    const Outcome o = outcome(tsr_generate(gen(), &r, 1, nullptr, nullptr));
    EXPECT_EQ(o.result, TSR_ERROR_UNSUPPORTED) << o.message;
    EXPECT_EQ(o.message.rfind("tsr_generate: request 0: ", 0), 0u) << o.message;
    EXPECT_NE(o.message.find("step sigmas"), std::string::npos) << o.message;
  }
  for (tsr_sampler s : {TSR_SAMPLER_DDIM, TSR_SAMPLER_DDPM}) {
    SCOPED_TRACE("sampler " + std::to_string(int(s)));
    tsr_request r = request(16, 16, 1, 3, 2, s);
    r.output.pixels = px.data();
    expectFailure(outcome(tsr_generate(gen(), &r, 1, nullptr, nullptr)), TSR_ERROR_UNSUPPORTED,
                  "tsr_generate", {s == TSR_SAMPLER_DDIM ? "ddim" : "ddpm", "EDM", "euler"});
  }
  // The refusals left the generator as it was.
  EXPECT_EQ(generateOne(gen(), good), before);
}

TEST_F(ApiGenerateTest, GuidanceWeighsTheClassAgainstTheNullClass) {
  TRACE_SEED();
  const uint64_t s = seed();
  auto guided = [&](int32_t cls, float g) {
    tsr_request r = request(16, 16, s, cls, 2, TSR_SAMPLER_DPMPP_2M);
    r.guidance = g;
    return generateOne(gen(), r);
  };
  const std::vector<uint8_t> g1 = guided(2, 1.0f), g3 = guided(2, 3.0f);
  EXPECT_TRUE(opaqueRgba8(g3));
  EXPECT_GT(meanAbsDiff(g1, g3), 1.0) << "guidance 3 vs 1";
  // F = Fu + w (Fc - Fu): w = 0 is the null class's output whatever the class.
  const std::vector<uint8_t> g0 = guided(2, 0.0f), unconditional = guided(-1, 1.0f);
  EXPECT_LE(maxAbsDiff(g0, unconditional), 1)
      << "guidance 0 vs class -1: " << firstDifference(g0, unconditional);
  const std::vector<uint8_t> g0other = guided(8, 0.0f);
  EXPECT_EQ(g0other, g0) << "guidance 0 ignores the class: " << firstDifference(g0other, g0);
  // A negative guidance means the model's default (1.0 for the default model).
  EXPECT_EQ(guided(2, -1.0f), g1);
}

TEST_F(ApiGenerateTest, StrengthZeroReturnsTheInitImage) {
  TRACE_SEED();
  std::vector<uint8_t> init = randomImage(rng_, 20, 12);
  tsr_request r = request(20, 12, seed(), 4, 4);
  r.init_rgba = init.data();
  r.strength = 0.0f;
  ProgressLog log;
  const std::vector<uint8_t> out = generate(gen(), {r}, &ProgressLog::callback, &log)[0];
  EXPECT_EQ(out, init) << firstDifference(out, init);
  EXPECT_EQ(log.total(), 0u) << "nothing to evaluate";
  // The output's alpha is 1 whatever the init image's.
  for (std::size_t i = 3; i < init.size(); i += 4) init[i] = uint8_t(rng_());
  const std::vector<uint8_t> opaque = generateOne(gen(), r);
  EXPECT_TRUE(opaqueRgba8(opaque));
  for (std::size_t i = 0; i < init.size(); ++i) {
    if (i % 4 == 3) continue;
    ASSERT_EQ(opaque[i], init[i]) << "byte " << i;
  }
}

TEST_F(ApiGenerateTest, StrengthOneIgnoresTheInitImage) {
  TRACE_SEED();
  const std::vector<uint8_t> init = randomImage(rng_, 16, 16);
  tsr_request r = request(16, 16, seed(), 4, 3);
  const std::vector<uint8_t> plain = generateOne(gen(), r);
  r.init_rgba = init.data();
  r.strength = 1.0f;
  const std::vector<uint8_t> withInit = generateOne(gen(), r);
  EXPECT_EQ(withInit, plain) << firstDifference(withInit, plain);
}

TEST_F(ApiGenerateTest, PartialStrengthStartsFromTheInitImage) {
  TRACE_SEED();
  // A smooth init image, one the model can plausibly keep.
  std::vector<uint8_t> init(16 * 16 * 4);
  const int base = int(rng_() % 100);
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 0; x < 16; ++x)
      for (int c = 0; c < 4; ++c)
        init[(y * 16 + x) * 4 + c] = c == 3 ? 255 : uint8_t(base + 40 * c + 4 * x + 3 * y);
  tsr_request r = request(16, 16, seed(), 7, 4);
  const std::vector<uint8_t> plain = generateOne(gen(), r);
  r.init_rgba = init.data();
  r.strength = 0.5f;
  ProgressLog log;
  const std::vector<uint8_t> varied = generate(gen(), {r}, &ProgressLog::callback, &log)[0];
  EXPECT_EQ(log.total(), 2u) << "strength 0.5 of 4 steps keeps the last 2";
  EXPECT_NE(varied, init);
  EXPECT_LT(meanAbsDiff(varied, init), meanAbsDiff(plain, init)) << "a variation stays nearer its init image";
}

TEST_F(ApiGenerateTest, InpaintingKeepsTheUnmaskedRegion) {
  TRACE_SEED();
  const uint32_t w = 20, h = 16;
  const std::vector<uint8_t> init = randomImage(rng_, w, h);
  // Generate the right part (x >= 8), keep the rest.
  std::vector<uint8_t> mask(std::size_t(w) * h);
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x) mask[y * w + x] = x >= 8 ? 255 : 0;
  tsr_request r = request(w, h, seed(), 2, 3);
  r.init_rgba = init.data();
  r.strength = 1.0f;
  r.mask = mask.data();
  const std::vector<uint8_t> out = generateOne(gen(), r);
  ASSERT_TRUE(opaqueRgba8(out));
  int keptMax = 0;
  double changed = 0;
  for (uint32_t y = 0; y < h; ++y)
    for (uint32_t x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const std::size_t i = (std::size_t(y) * w + x) * 4 + c;
        const int d = std::abs(int(out[i]) - int(init[i]));
        if (x < 8)
          keptMax = std::max(keptMax, d);
        else
          changed += d;
      }
  EXPECT_LE(keptMax, 1) << "the kept region is the init image";
  EXPECT_GT(changed / ((w - 8) * h * 3), 10.0) << "the masked region is generated anew";

  // A mask that keeps nothing is plain generation.
  std::fill(mask.begin(), mask.end(), uint8_t(255));
  const std::vector<uint8_t> all = generateOne(gen(), r);
  r.mask = nullptr;
  r.init_rgba = nullptr;
  const std::vector<uint8_t> plain = generateOne(gen(), r);
  EXPECT_EQ(all, plain) << firstDifference(all, plain);
}

TEST_F(ApiGenerateTest, TileableOutputHasNoSeam) {
  TRACE_SEED();
  double tileable = 0, plainScore = 0;
  const int n = 3;
  for (int k = 0; k < n; ++k) {
    tsr_request r = request(32, 32, seed(), int32_t(k * 3), 4, TSR_SAMPLER_DPMPP_2M);
    r.tiling = TSR_TILING_TILEABLE;
    const std::vector<uint8_t> tiled = generateOne(gen(), r);
    r.tiling = TSR_TILING_PLAIN;
    const std::vector<uint8_t> plain = generateOne(gen(), r);
    r.tiling = TSR_TILING_DEFAULT;
    const std::vector<uint8_t> byDefault = generateOne(gen(), r);
    EXPECT_EQ(byDefault, tiled) << "the default model pads circularly by default";
    EXPECT_GT(meanAbsDiff(tiled, plain), 1.0) << "circular and zero padding give different textures";
    tileable += seamScore(tiled, 32, 32) / n;
    plainScore += seamScore(plain, 32, 32) / n;
  }
  std::printf("seam score (wrap-edge / interior gradient), mean of %d: tileable %.3f, plain %.3f\n", n,
              tileable, plainScore);
  EXPECT_LT(tileable, 1.3);
  EXPECT_GT(plainScore, tileable) << "zero padding leaves edges that do not meet";
}

// RGBA16F holds the linear light of what RGBA8 holds sRGB-encoded: re-encoding each half to
// sRGB lands within half a level (the 8-bit rounding) plus fp16's own rounding of the byte.
TEST_F(ApiGenerateTest, Rgba16fIsTheLinearLightOfRgba8) {
  TRACE_SEED();
  tsr_request r = request(20, 12, seed(), 9, 2);
  const std::vector<uint8_t> srgb = generateOne(gen(), r);
  r.output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
  const std::vector<float> linear = decodeRgba16f(generateOne(gen(), r));
  r.output.format = VK_FORMAT_R8G8B8A8_UNORM;
  EXPECT_EQ(generateOne(gen(), r), srgb) << "_UNORM and _SRGB hold the same bytes";
  ASSERT_EQ(linear.size(), srgb.size());
  double worst = 0;
  for (std::size_t i = 0; i < srgb.size(); ++i) {
    if (i % 4 == 3) {
      EXPECT_EQ(linear[i], 1.0f);
      continue;
    }
    ASSERT_TRUE(std::isfinite(linear[i])) << i;
    const double level = linearToSrgb(std::clamp(double(linear[i]), 0.0, 1.0)) * 255.0;
    worst = std::max(worst, std::abs(level - srgb[i]));
  }
  // 0.5: the byte's rounding; fp16 keeps 11 bits, which moves an sRGB level by at most ~0.06.
  EXPECT_LE(worst, 0.5 + 0.07);
  std::printf("RGBA16F vs RGBA8: largest difference %.3f sRGB levels\n", worst);
}

TEST_F(ApiGenerateTest, RowPitchIsRespected) {
  TRACE_SEED();
  const uint32_t w = 20, h = 12;
  for (VkFormat f : {VK_FORMAT_R8G8B8A8_SRGB, VK_FORMAT_R16G16B16A16_SFLOAT}) {
    SCOPED_TRACE("format " + std::to_string(int(f)));
    tsr_request r = request(w, h, seed(), 1, 1);
    r.output.format = f;
    const std::vector<uint8_t> tight = generateOne(gen(), r);
    const std::size_t row = w * pixelSize(f), pitch = row + 20 + 3;  // not even a multiple of 4
    std::vector<uint8_t> padded(pitch * h + 7, 0x33);
    r.output.pixels = padded.data();
    r.output.row_pitch = pitch;
    TSR_ASSERT_OK(tsr_generate(gen(), &r, 1, nullptr, nullptr));
    for (uint32_t y = 0; y < h; ++y) {
      EXPECT_EQ(std::memcmp(padded.data() + y * pitch, tight.data() + y * row, row), 0) << "row " << y;
      for (std::size_t b = y * pitch + row; b < (y + 1) * pitch; ++b)
        ASSERT_EQ(padded[b], 0x33) << "byte " << b;
    }
    for (std::size_t b = pitch * h; b < padded.size(); ++b)
      ASSERT_EQ(padded[b], 0x33) << "after the last row";
  }
}

TEST_F(ApiGenerateTest, ZeroSizeMeansTheGeneratorsMaximum) {
  TRACE_SEED();
  tsr_request r = request(0, 0, seed(), 5, 1);
  std::vector<uint8_t> px(32 * 32 * 4, 0x5A);
  r.output.pixels = px.data();
  TSR_ASSERT_OK(tsr_generate(gen(), &r, 1, nullptr, nullptr));
  r.width = r.height = 32;
  EXPECT_EQ(px, generateOne(gen(), r));
}

// Init images and masks are copied at tsr_generator_begin: the host may reuse its memory at once.
TEST_F(ApiGenerateTest, InputsAreCopiedAtBegin) {
  TRACE_SEED();
  std::vector<uint8_t> init = randomImage(rng_, 16, 16), mask(16 * 16);
  for (std::size_t i = 0; i < mask.size(); ++i) mask[i] = i % 16 < 6 ? 0 : 255;
  tsr_request r = request(16, 16, seed(), 5, 2);
  r.init_rgba = init.data();
  r.mask = mask.data();
  const std::vector<uint8_t> want = generateOne(gen(), r);
  Job job({r});
  TSR_ASSERT_OK(tsr_generator_begin(gen(), job.requests.data(), 1));
  std::fill(init.begin(), init.end(), uint8_t(0));
  std::fill(mask.begin(), mask.end(), uint8_t(0));
  TSR_ASSERT_OK(tsr_generator_submit(gen()));
  TSR_ASSERT_OK(tsr_generator_wait(gen(), UINT64_MAX));
  EXPECT_EQ(job.pixels[0], want) << firstDifference(job.pixels[0], want);
}

// A job mixing sizes and settings runs each group in turn; every image equals its own run.
TEST_F(ApiGenerateTest, MixedJobGivesEachRequestItsOwnImage) {
  TRACE_SEED();
  tsr_request a = request(16, 16, seed(), 1, 2), b = request(20, 12, seed(), 2, 2),
              c = request(16, 16, seed(), 3, 2);
  c.guidance = 2.0f;  // in a group of its own, though the same size as a
  tsr_request d = request(16, 16, seed(), 0, 1);
  d.output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
  // Init images and masks of requests in different groups, packed one group after another.
  const std::vector<uint8_t> initA = randomImage(rng_, 16, 16), initB = randomImage(rng_, 20, 12);
  std::vector<uint8_t> maskA(16 * 16);
  for (std::size_t i = 0; i < maskA.size(); ++i) maskA[i] = uint8_t(i * 7);
  tsr_request ia = a, ib = b, ic = request(16, 16, seed(), 9, 2);
  ia.init_rgba = initA.data(), ia.mask = maskA.data();
  ib.init_rgba = initB.data(), ib.strength = 0.5f;
  ic.init_rgba = initA.data(), ic.mask = maskA.data();
  for (const std::vector<tsr_request>& job :
       {std::vector<tsr_request>{a, b, a}, {a, c, b}, {d, a, d}, {ia, ib, ic}}) {
    const auto together = generate(gen(), job);
    for (std::size_t i = 0; i < job.size(); ++i) {
      const std::vector<uint8_t> alone = generateOne(gen(), job[i]);
      EXPECT_EQ(together[i], alone) << "request " << i << ": " << firstDifference(together[i], alone);
    }
  }
}

}  // namespace
}  // namespace tessera::test::api
