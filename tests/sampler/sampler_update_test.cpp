#include "sampler/sampler_update.hpp"

#include <algorithm>

#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

class SamplerUpdateTest : public GpuTest {};

struct Case {
  Shape4 s;
  bool guided = false;  // netOut holds 2n rows
  bool noise = false;   // x4, e4 != 0
  bool clip = false;
  bool store = false;    // P = D after
  bool inpaint = false;  // bind init + mask and set the flag
  bool bindMask = false;
  uint32_t variance = 0;  // 0: netOut is F alone; kLearnedVariance / kLearnedRange: F then V per item
};

struct Result {
  std::vector<float> x, e, d, p;
};

// The update, element by element in double, from the values the GPU reads.
void reference(const Case& c, const sampler::StageParams& r, const std::vector<float>& f,
               const std::vector<float>& x, const std::vector<float>& e, const std::vector<float>& p,
               const std::vector<float>& z, const std::vector<float>& zk, const std::vector<float>& init,
               const std::vector<float>& mask, std::vector<double> (&want)[4]) {
  const Shape4& s = c.s;
  const std::size_t count = s.count(), plane = std::size_t(s.h) * s.w, perItem = s.c * plane;
  for (std::vector<double>& w : want) w.assign(count, 0.0);
  // netOut per item: C channels of F, then C of the variance half when there is one.
  const std::size_t netPerItem = c.variance ? 2 * perItem : perItem, netRows = count / perItem * netPerItem;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t o = (i / perItem) * netPerItem + i % perItem;
    double fv = f[o];
    if (c.guided) fv = double(f[o + netRows]) + double(r.guidance) * (double(f[o]) - f[o + netRows]);
    double zscale = 1.0;
    if (c.variance) {
      const double v = f[o + perItem], frac = (v + 1) / 2;
      zscale = c.variance == sampler::kLearnedRange ? std::exp(0.5 * (frac * r.maxLog + (1 - frac) * r.minLog))
                                                    : std::sqrt(std::max(v, 0.0));
    }
    double d = double(r.cSkip) * e[i] + double(r.cOut) * fv;
    if (c.clip) d = std::clamp(d, -double(r.clipRange), double(r.clipRange));
    const double zi = c.noise ? z[i] * zscale : 0.0;
    double xn = r.x[0] * double(x[i]) + r.x[1] * d + r.x[2] * double(p[i]) + r.x[3] * double(e[i]) +
                r.x[4] * zi + r.fX * fv;
    double en = r.e[0] * double(x[i]) + r.e[1] * d + r.e[2] * double(p[i]) + r.e[3] * double(e[i]) +
                r.e[4] * zi + r.fE * fv;
    if (c.inpaint) {
      const double m = mask[(i / perItem) * plane + i % plane];
      xn = m * (init[i] + double(r.sigmaX) * zk[i]) + (1 - m) * xn;
      en = m * (init[i] + double(r.sigmaE) * zk[i]) + (1 - m) * en;
    }
    want[0][i] = xn;
    want[1][i] = en;
    want[2][i] = d;
    want[3][i] = c.store ? d : p[i];
  }
}

void check(DType t, const Case& c) {
  const uint64_t seed = freshSeed();
  const Shape4& s = c.s;
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " " + dtypeName(t) +
               (c.guided ? " guided" : "") + (c.noise ? " noise" : "") + (c.clip ? " clip" : "") +
               (c.store ? " store" : "") + (c.inpaint ? " inpaint" : "") + (c.bindMask ? " mask bound" : ""));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> coef(-1.5f, 1.5f);
  const uint32_t rows = c.guided ? 2 * s.n : s.n;
  const std::size_t count = s.count();
  const uint32_t netC = c.variance ? 2 * s.c : s.c;
  const std::size_t netCount = std::size_t(rows) * netC * s.h * s.w;
  const auto f = roundTo(t, randomVector(rng, netCount, -2.0f, 2.0f));
  const auto x = randomVector(rng, count, -10.0f, 10.0f), e = randomVector(rng, count, -10.0f, 10.0f),
             p = randomVector(rng, count), init = randomVector(rng, count);
  std::vector<float> mask = randomVector(rng, count / s.c, 0.0f, 1.0f);
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (i % 3 != 2) mask[i] = float(i % 3);  // exact 0 and 1 as well as fractions
  const std::vector<uint64_t> seeds = randomSeeds(rng, s.n);

  sampler::StageParams r;
  r.cSkip = coef(rng);
  r.cOut = coef(rng);
  r.guidance = std::uniform_real_distribution<float>(0.0f, 8.0f)(rng);
  for (int k = 0; k < 5; ++k) {
    r.x[k] = coef(rng);
    r.e[k] = coef(rng);
  }
  if (!c.noise) r.x[4] = r.e[4] = 0.0f;
  r.fX = coef(rng);
  r.fE = coef(rng);
  r.sigmaX = std::uniform_real_distribution<float>(0.0f, 5.0f)(rng);
  r.sigmaE = std::uniform_real_distribution<float>(0.0f, 5.0f)(rng);
  r.stream = 2 + 2 * uint32_t(rng() % 50);
  r.clipRange = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng);
  r.flags = (c.store ? sampler::kStoreDenoised : 0) | (c.clip ? sampler::kClipDenoised : 0) |
            (c.inpaint ? sampler::kInpaint : 0) | c.variance;
  r.minLog = std::uniform_real_distribution<float>(-9.0f, -4.0f)(rng);
  r.maxLog = std::uniform_real_distribution<float>(-4.0f, -1.0f)(rng);
  const uint32_t streams[] = {r.stream, r.stream + 1};
  const std::vector<std::vector<float>> noise = batchNoise(seeds, streams, uint32_t(count / s.n));

  const vk::Gpu& gpu = GpuTest::gpu();
  TensorPool pool(gpu, 4 * (count * 9 + netCount) + 16384);
  const Tensor netOut = pool.make({rows, netC, s.h, s.w}, t);
  sampler::SamplerState st = makeState(pool, s);
  const Tensor tInit = pool.make(s, DType::F32), tMask = pool.make({s.n, 1, s.h, s.w}, DType::F32);
  pool.upload(netOut, f);
  pool.upload(st.x, x);
  pool.upload(st.e, e);
  pool.poison(st.d);
  pool.upload(st.p, p);
  pool.upload(tInit, init);
  pool.upload(tMask, mask);
  const BufferRef params = makeParams(pool, r, itemRows(seeds));
  Program prog(gpu);
  sampler::samplerUpdate(prog, GpuTest::kernels(), params, netOut, st, c.bindMask ? &tInit : nullptr,
                         c.bindMask ? &tMask : nullptr);
  runProgram(gpu, prog);

  std::vector<double> want[4];
  Case applied = c;
  applied.inpaint = c.inpaint && c.bindMask;  // without the inputs bound the flag is ignored
  reference(applied, r, f, x, e, p, noise[0], noise[1], init, mask, want);
  // The state is fp32 whatever the network's storage: the reference already sees the rounded F.
  expectClose(pool.download(st.x), want[0], DType::F32, "X");
  expectClose(pool.download(st.e), want[1], DType::F32, "E");
  expectClose(pool.download(st.d), want[2], DType::F32, "D");
  const std::vector<float> gotP = pool.download(st.p);
  if (c.store) {
    expectClose(gotP, want[3], DType::F32, "P");
  } else {
    EXPECT_EQ(std::memcmp(gotP.data(), p.data(), count * 4), 0) << "P changed without kStoreDenoised";
  }
}

TEST_F(SamplerUpdateTest, DeterministicUpdateMatchesReference) {
  for (DType t : precisions()) {
    check(t, {.s = {2, 3, 7, 5}});
    check(t, {.s = {1, 13, 3, 9}, .store = true});
  }
}

TEST_F(SamplerUpdateTest, FreshNoiseMatchesGaussianNoiseOfTheStream) {
  for (DType t : precisions()) {
    check(t, {.s = {3, 3, 5, 5}, .noise = true});
    check(t, {.s = {2, 13, 7, 3}, .noise = true, .store = true});
  }
}

TEST_F(SamplerUpdateTest, GuidanceCombinesConditionalAndNullRows) {
  for (DType t : precisions()) {
    check(t, {.s = {2, 3, 9, 7}, .guided = true});
    check(t, {.s = {3, 13, 3, 5}, .guided = true, .noise = true, .store = true});
  }
}

// DDPM with a learned variance: the noise term is scaled per element by the standard deviation the
// network's variance half predicts, and F is read from the first half of each item's channels.
TEST_F(SamplerUpdateTest, VarianceHalfScalesTheNoise) {
  for (DType t : precisions()) {
    check(t, {.s = {2, 3, 5, 7}, .noise = true, .variance = sampler::kLearnedRange});
    check(t, {.s = {3, 3, 4, 5}, .noise = true, .store = true, .variance = sampler::kLearnedVariance});
    check(t, {.s = {2, 3, 6, 5}, .guided = true, .noise = true, .variance = sampler::kLearnedRange});
    check(t, {.s = {1, 4, 5, 3}, .variance = sampler::kLearnedRange});  // no noise: V read, unused
  }
}

TEST_F(SamplerUpdateTest, ClipClampsTheDenoisedImage) {
  for (DType t : precisions()) check(t, {.s = {2, 3, 6, 7}, .clip = true, .store = true});
}

TEST_F(SamplerUpdateTest, InpaintingBlendsTheInitImageWhereTheMaskKeepsIt) {
  for (DType t : precisions()) {
    check(t, {.s = {2, 3, 7, 5}, .inpaint = true, .bindMask = true});
    check(t, {.s = {3, 13, 5, 3},
              .guided = true,
              .noise = true,
              .store = true,
              .inpaint = true,
              .bindMask = true});
    // Bound but switched off, and switched on without the inputs bound: no blend either way.
    check(t, {.s = {2, 3, 5, 9}, .noise = true, .bindMask = true});
    check(t, {.s = {2, 3, 5, 9}, .inpaint = true});
  }
}

TEST_F(SamplerUpdateTest, FinalInpaintingStageGivesTheInitImageExactlyWhereKept) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Shape4 s{2, 3, 9, 11};
  const std::vector<float> init = randomVector(rng, s.count());
  std::vector<float> mask(s.count() / s.c);
  for (float& m : mask) m = float(rng() % 2);
  TensorPool pool(gpu(), 4 * s.count() * 8 + 16384);
  const Tensor netOut = pool.make(s, DType::F32);
  sampler::SamplerState st = makeState(pool, s);
  const Tensor tInit = pool.make(s, DType::F32), tMask = pool.make({s.n, 1, s.h, s.w}, DType::F32);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&netOut, &st.x, &st.e, &st.p})
    pool.upload(*t, randomVector(rng, s.count(), -5, 5));
  pool.upload(tInit, init);
  pool.upload(tMask, mask);
  // The last step of a sampler: X = D, sigma 0, inpainting on.
  sampler::StageParams r;
  r.cSkip = 0.7f;
  r.cOut = 0.3f;
  r.x[1] = r.e[1] = 1.0f;
  r.flags = sampler::kInpaint;
  r.stream = 8;
  const uint64_t seeds[] = {rng(), rng()};
  const BufferRef params = makeParams(pool, r, itemRows(seeds));
  Program prog(gpu());
  sampler::samplerUpdate(prog, kernels(), params, netOut, st, &tInit, &tMask);
  runProgram(gpu(), prog);
  const std::vector<float> got = pool.download(st.x);
  const std::size_t plane = s.h * s.w, perItem = s.c * plane;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (mask[(i / perItem) * plane + i % plane] != 1.0f) continue;
    ++kept;
    ASSERT_EQ(got[i], init[i]) << "element " << i;
  }
  EXPECT_GT(kept, 0u);
}

TEST_F(SamplerUpdateTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  const Shape4 s{2, 3, 4, 4};
  sampler::SamplerState st = makeState(pool, s);
  const uint64_t seeds[] = {1, 2};
  const BufferRef params = makeParams(pool, {}, itemRows(seeds));
  Program prog(gpu());
  const Tensor threeRows = pool.make({3, 3, 4, 4}, DType::F32);
  expectError([&] { sampler::samplerUpdate(prog, kernels(), params, threeRows, st); },
              ErrorCode::InvalidArgument, "netOut has 3 rows");
  const Tensor netOut = pool.make(s, DType::F32), init = pool.make(s, DType::F32);
  expectError([&] { sampler::samplerUpdate(prog, kernels(), params, netOut, st, &init, nullptr); },
              ErrorCode::InvalidArgument, "init and mask are bound together");
  const Tensor fullMask = pool.make(s, DType::F32);
  expectError([&] { sampler::samplerUpdate(prog, kernels(), params, netOut, st, &init, &fullMask); },
              ErrorCode::InvalidArgument, "Mask is [2,3,4,4], expected [2,1,4,4]");
}

}  // namespace
}  // namespace tessera::test
