#include "ops/group_norm.hpp"

#include <cmath>

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class GroupNormTest : public GpuTest {};

struct Case {
  Shape4 shape;
  uint32_t groups;
  bool preAdd = false;
  bool scaleShift = false;
  bool silu = false;
  ops::GroupNormVariant variant = ops::GroupNormVariant::Auto;
  bool inPlace = false;
  float offset = 8.0f;  // channel means are drawn from [-offset, offset]
  uint32_t localSize = 0;
  uint32_t in2Channels = 0;  // the last channels come from a second tensor (a concat read in place)
  // Only the coefficients a consumer normalises with (coefficientsOnly); the test applies them (and
  // the SiLU) to the input in double and compares that with the reference.
  bool coefficients = false;
  float outlier = 0.0f;  // the first pixel of every channel lies this many spreads above the rest
};

std::string describe(const Case& c, DType t) {
  return c.shape.str() + " groups " + std::to_string(c.groups) + (c.preAdd ? " preAdd" : "") +
         (c.scaleShift ? " scaleShift" : "") + (c.silu ? " silu" : "") + (c.inPlace ? " in-place" : "") +
         (c.localSize ? " local " + std::to_string(c.localSize) : "") +
         (c.in2Channels ? " in2 " + std::to_string(c.in2Channels) : "") + (c.coefficients ? " coefficients" : "") +
         " " + dtypeName(t);
}

// Independent of the shader's algorithm: builds h in double, then textbook mean and variance.
std::vector<double> reference(const Case& c, const std::vector<float>& x, const std::vector<float>& gamma,
                              const std::vector<float>& beta, const std::vector<float>& preAdd,
                              const std::vector<float>& scaleShift, float eps) {
  const Shape4 s = c.shape;
  const std::size_t hw = std::size_t(s.h) * s.w, cpg = s.c / c.groups;
  std::vector<double> out(s.count());
  for (uint32_t n = 0; n < s.n; ++n) {
    for (uint32_t g = 0; g < c.groups; ++g) {
      std::vector<double> h(cpg * hw);
      for (std::size_t cl = 0; cl < cpg; ++cl)
        for (std::size_t i = 0; i < hw; ++i) {
          const std::size_t ch = g * cpg + cl;
          h[cl * hw + i] =
              double(x[(n * s.c + ch) * hw + i]) + (c.preAdd ? double(preAdd[n * s.c + ch]) : 0.0);
        }
      double mean = 0, var = 0;
      for (double v : h) mean += v;
      mean /= double(h.size());
      for (double v : h) var += (v - mean) * (v - mean);
      var /= double(h.size());
      const double rstd = 1.0 / std::sqrt(var + double(eps));
      for (std::size_t cl = 0; cl < cpg; ++cl) {
        const std::size_t ch = g * cpg + cl;
        for (std::size_t i = 0; i < hw; ++i) {
          double y = (h[cl * hw + i] - mean) * rstd * gamma[ch] + beta[ch];
          if (c.scaleShift) y = y * (1.0 + scaleShift[n * 2 * s.c + ch]) + scaleShift[n * 2 * s.c + s.c + ch];
          if (c.silu) y = y / (1.0 + std::exp(-y));
          out[(n * s.c + ch) * hw + i] = y;
        }
      }
    }
  }
  return out;
}

void check(DType t, const Case& c) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " " + describe(c, t));
  std::mt19937_64 rng(seed);
  const Shape4 s = c.shape;
  const std::size_t hw = std::size_t(s.h) * s.w;

  // Each channel gets its own mean and spread, so groups differ and the mean matters.
  std::vector<float> x = randomVector(rng, s.count());
  const auto offsets = randomVector(rng, std::size_t(s.n) * s.c, -c.offset, c.offset);
  const auto spreads = randomVector(rng, std::size_t(s.n) * s.c, 0.2f, 3.0f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = offsets[i / hw] + spreads[i / hw] * x[i];
  for (std::size_t i = 0; c.outlier != 0.0f && i < x.size(); i += hw) x[i] += c.outlier * spreads[i / hw];
  x = roundTo(t, x);
  const auto gamma = roundTo(t, randomVector(rng, s.c, -1.5f, 1.5f));
  const auto beta = roundTo(t, randomVector(rng, s.c));
  const auto preAdd = roundTo(t, randomVector(rng, std::size_t(s.n) * s.c, -2.0f, 2.0f));
  const auto scaleShift = roundTo(t, randomVector(rng, std::size_t(s.n) * 2 * s.c));
  const float eps = 1e-5f;

  TensorPool pool(gpu, 2 * s.count() * 4 + 8 * s.n * s.c * 4 + 65536);
  Tensor tx = pool.make(s, t), tg = pool.make({1, s.c, 1, 1}, t), tb = pool.make({1, s.c, 1, 1}, t);
  Tensor tp = pool.make({s.n, s.c, 1, 1}, t), tss = pool.make({s.n, 2 * s.c, 1, 1}, t);
  Tensor to = c.coefficients ? pool.make({s.n, s.c, 1, 4}, DType::F32) : c.inPlace ? tx : pool.make(s, t);
  // With two parts, image n's first C1 planes go to tx and the rest to tx2, as a concat's inputs.
  const uint32_t c2 = c.in2Channels, c1 = s.c - c2;
  Tensor tx2;
  if (c2) {
    std::vector<float> a, b;
    for (uint32_t n = 0; n < s.n; ++n) {
      const auto image = x.begin() + std::ptrdiff_t(n * s.c * hw);
      a.insert(a.end(), image, image + std::ptrdiff_t(c1 * hw));
      b.insert(b.end(), image + std::ptrdiff_t(c1 * hw), image + std::ptrdiff_t(s.c * hw));
    }
    tx = pool.make({s.n, c1, s.h, s.w}, t);
    tx2 = pool.make({s.n, c2, s.h, s.w}, t);
    pool.upload(tx, a);
    pool.upload(tx2, b);
  } else {
    pool.upload(tx, x);
  }
  pool.upload(tg, gamma);
  pool.upload(tb, beta);
  pool.upload(tp, preAdd);
  pool.upload(tss, scaleShift);
  if (!c.inPlace) pool.poison(to);

  Program prog(gpu);
  ops::GroupNormIO io{tx, tg, tb, to, c.preAdd ? &tp : nullptr, c.scaleShift ? &tss : nullptr, c2 ? &tx2 : nullptr};
  ops::GroupNormParams params{c.groups, eps, c.silu && !c.coefficients, c.coefficients};
  ops::groupNorm(prog, GpuTest::kernels(), io, params, c.variant, c.localSize);
  runProgram(gpu, prog);
  const std::vector<double> want = reference(c, x, gamma, beta, preAdd, scaleShift, eps);
  if (!c.coefficients) {
    expectClose(pool.download(to), want, t, "groupNorm");
    return;
  }
  const std::vector<float> k = pool.download(to);
  std::vector<double> got(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t nc = i / hw;  // n * C + c
    const double y = (double(x[i]) - k[nc * 4]) * k[nc * 4 + 1] + k[nc * 4 + 2];
    got[i] = c.silu ? y / (1.0 + std::exp(-y)) : y;
    ASSERT_EQ(k[nc * 4 + 3], 0.0f) << "coefficient slot 3 of channel " << nc;
  }
  expectClose(std::vector<float>(got.begin(), got.end()), want, Tolerance{1e-5, 1e-4}, "groupNorm coefficients");
}

// Odd channel counts, one group per channel and one group for all, pixel counts that are and are
// not multiples of 4 (the two variants), batch 1 and 3.
const Case kShapes[] = {
    {{1, 13, 7, 5}, 13}, {{3, 13, 5, 3}, 1}, {{3, 3, 9, 11}, 3}, {{1, 12, 6, 6}, 4}, {{3, 6, 4, 5}, 2},
};

TEST_F(GroupNormTest, EveryOptionCombinationMatchesReference) {
  for (DType t : precisions())
    for (Case c : kShapes)
      for (int mask = 0; mask < 8; ++mask) {
        c.preAdd = mask & 1;
        c.scaleShift = mask & 2;
        c.silu = mask & 4;
        check(t, c);
      }
}

TEST_F(GroupNormTest, ScalarAndVec4VariantsAgreeWithReference) {
  for (DType t : precisions())
    for (auto v : {ops::GroupNormVariant::Scalar, ops::GroupNormVariant::Vec4}) {
      Case c{{3, 16, 9, 4}, 8, true, true, true};
      c.variant = v;
      check(t, c);
    }
}

TEST_F(GroupNormTest, EveryWorkgroupSizeADeviceMayGet) {
  // The device picks one size (a subgroup on a CPU, 256 on a GPU); the reduction tree must hold
  // for all of them, including sizes larger than a channel plane.
  for (DType t : precisions())
    for (uint32_t local : {1u, 64u, 256u}) {
      Case c{{3, 12, 9, 7}, 4, true, true, true};
      c.localSize = local;
      check(t, c);
      c.shape = {1, 8, 16, 20};
      check(t, c);
    }
}

TEST_F(GroupNormTest, AutoPicksVec4OnlyWhenPixelsComeInFours) {
  EXPECT_EQ(ops::groupNormVariant(gpu().facts, {1, 8, 6, 6}), ops::GroupNormVariant::Vec4);
  EXPECT_EQ(ops::groupNormVariant(gpu().facts, {1, 8, 7, 5}), ops::GroupNormVariant::Scalar);
  EXPECT_EQ(ops::groupNormVariant(gpu().facts, {1, 8, 1, 2}), ops::GroupNormVariant::Scalar);
}

TEST_F(GroupNormTest, MeanFarFromZeroKeepsPrecision) {
  // |mean| / std around 100: a one-pass E[h^2] - E[h]^2 in fp32 would lose the variance here.
  for (DType t : precisions()) {
    Case c{{2, 8, 16, 16}, 2};
    c.offset = 60.0f;
    c.preAdd = true;
    check(t, c);
    // A first value far from the rest of its channel.
    c.outlier = 40.0f;
    check(t, c);
    c.shape = {1, 16, 64, 64};
    check(t, c);
  }
}

// Groups that straddle the two parts and groups that do not, both variants, every fusion.
TEST_F(GroupNormTest, AConcatReadInPlaceMatchesTheConcatenatedInput) {
  for (DType t : precisions())
    for (auto v : {ops::GroupNormVariant::Scalar, ops::GroupNormVariant::Vec4}) {
      check(t, Case{{3, 48, 8, 6}, 8, true, false, true, v, false, 8.0f, 0, 16});   // 6 per group: split in group 5
      check(t, Case{{2, 12, 4, 4}, 3, false, true, true, v, false, 8.0f, 0, 4});    // on a group boundary
      check(t, Case{{1, 7, 5, 4}, 1, false, false, false, v, false, 8.0f, 0, 3});   // one group over both
    }
}

// The coefficients mode, for a consumer that normalises on its loads: every fusion, both variants,
// a concat, a mean far from zero.
TEST_F(GroupNormTest, CoefficientsNormaliseLikeTheOp) {
  for (DType t : precisions()) {
    for (Case c : kShapes)
      for (int mask = 0; mask < 8; ++mask) {
        c.preAdd = mask & 1;
        c.scaleShift = mask & 2;
        c.silu = mask & 4;
        c.coefficients = true;
        check(t, c);
      }
    Case concat{{3, 48, 8, 6}, 8, true, false, true, ops::GroupNormVariant::Vec4, false, 8.0f, 0, 16};
    concat.coefficients = true;
    check(t, concat);
    Case far{{2, 8, 16, 16}, 2};
    far.offset = 60.0f;
    far.preAdd = true;
    far.coefficients = true;
    check(t, far);
  }
}

TEST_F(GroupNormTest, CoefficientsRefuseSiluAndABadShape) {
  TensorPool pool(gpu(), 1 << 16);
  const DType f = DType::F32;
  Tensor x = pool.make({2, 12, 4, 4}, f), gamma = pool.make({1, 12, 1, 1}, f);
  Tensor coeffs = pool.make({2, 12, 1, 4}, f), wrong = pool.make({2, 12, 1, 3}, f);
  Tensor half = pool.make({2, 12, 1, 4}, DType::F16);
  Program prog(gpu());
  const ErrorCode bad = ErrorCode::InvalidArgument;
  expectError([&] { ops::groupNorm(prog, kernels(), {x, gamma, gamma, coeffs}, {4, 1e-5f, true, true}); }, bad,
              "silu must be false");
  expectError([&] { ops::groupNorm(prog, kernels(), {x, gamma, gamma, wrong}, {4, 1e-5f, false, true}); }, bad,
              "must be fp32 [N,C,1,4]");
  expectError([&] { ops::groupNorm(prog, kernels(), {x, gamma, gamma, half}, {4, 1e-5f, false, true}); }, bad,
              "must be fp32 [N,C,1,4]");
  expectError([&] { ops::groupNorm(prog, kernels(), {x, gamma, gamma, x}, {4, 1e-5f, false, true}); }, bad,
              "must be fp32 [N,C,1,4]");
}

TEST_F(GroupNormTest, RunsInPlace) {
  for (DType t : precisions()) check(t, Case{{3, 13, 7, 5}, 13, true, true, true, {}, true});
}

TEST_F(GroupNormTest, LargeImageWithThirtyTwoGroups) {
  // 256x256x64: the largest GroupNorm of a 256-pixel U-Net; one workgroup walks 131072 values.
  for (DType t : precisions()) check(t, Case{{1, 64, 256, 256}, 32, false, false, true});
}

TEST_F(GroupNormTest, LongGroupsStayWithinTheDriversLoopLimit) {
  // 8 channels of 344x344 per group: one subgroup walking it twice (statistics, output) would loop
  // past lavapipe's 65535 iterations, which ended the output pass early and left the group's last
  // rows unwritten.
  for (DType t : precisions()) check(t, Case{{1, 32, 344, 344}, 4, true, false, true});
  if (!gpu().facts.loopIterationLimit) return;
  // A workgroup size asked for that would loop past the limit is refused, not run short.
  const Shape4 s{1, 32, 344, 344};
  TensorPool pool(gpu(), 2 * s.count() * 4 + 65536);
  Tensor x = pool.make(s, DType::F32), g = pool.make({1, 32, 1, 1}, DType::F32);
  Program prog(gpu());
  expectError([&] { ops::groupNorm(prog, kernels(), {x, g, g, x}, {4, 1e-5f}, {}, 8); },
              ErrorCode::InvalidArgument, "too many loop iterations");
}

TEST_F(GroupNormTest, WorkgroupGrowsUntilItsLoopsFitTheLimit) {
  vk::DeviceFacts f;
  f.type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  f.subgroupSize = 8;
  f.maxWorkgroupInvocations = 1024;
  f.maxWorkgroupCount[0] = f.maxWorkgroupCount[1] = f.maxWorkgroupCount[2] = 65535;
  const Shape4 small{2, 64, 64, 64}, big{1, 32, 344, 344}, huge{1, 64, 2048, 2048};
  // No limit: the device's preference, one subgroup, whatever the shape.
  EXPECT_EQ(ops::groupNormLocalSize(f, big, 4), 8u);
  f.loopIterationLimit = 65535;
  EXPECT_EQ(ops::groupNormLocalSize(f, small, 32), 8u);
  const uint32_t local = ops::groupNormLocalSize(f, big, 4);
  EXPECT_GT(local, 8u);
  EXPECT_LE(ops::groupNormLoopIterations(f, big, 4, ops::GroupNormVariant::Auto, local), 65535u);
  EXPECT_GT(ops::groupNormLoopIterations(f, big, 4, ops::GroupNormVariant::Auto, local / 2), 65535u * 7 / 8);
  // The scalar variant loads a quarter as much per iteration, so it needs a larger workgroup.
  EXPECT_EQ(ops::groupNormLocalSize(f, big, 4, ops::GroupNormVariant::Scalar), 4 * local);
  expectError([&] { ops::groupNormLocalSize(f, huge, 1); }, ErrorCode::Unsupported, "[1,64,2048,2048] in 1 groups");
}

TEST_F(GroupNormTest, RefusesBadInput) {
  TensorPool pool(gpu(), 1 << 16);
  const DType f = DType::F32;
  Tensor x = pool.make({2, 12, 4, 4}, f), out = pool.make({2, 12, 4, 4}, f);
  Tensor gamma = pool.make({1, 12, 1, 1}, f), beta = pool.make({1, 12, 1, 1}, f);
  Tensor small = pool.make({1, 8, 1, 1}, f), wrongOut = pool.make({2, 12, 4, 5}, f);
  Tensor preAdd = pool.make({2, 12, 1, 1}, f), badScaleShift = pool.make({2, 12, 1, 1}, f);
  Tensor half = pool.make({2, 12, 4, 4}, DType::F16);
  Program prog(gpu());
  auto run = [&](ops::GroupNormIO io, uint32_t groups) {
    ops::groupNorm(prog, kernels(), io, {groups, 1e-5f});
  };
  const ErrorCode bad = ErrorCode::InvalidArgument;
  expectError([&] { run({x, gamma, beta, out}, 5); }, bad, "5 groups do not divide 12 channels");
  expectError([&] { run({x, gamma, beta, out}, 0); }, bad, "0 groups do not divide 12 channels");
  expectError([&] { run({x, gamma, beta, wrongOut}, 4); }, bad, "differs from input");
  expectError([&] { run({x, Tensor{}, beta, out}, 4); }, bad, "affine gamma and beta are required");
  expectError([&] { run({x, gamma, Tensor{}, out}, 4); }, bad, "affine gamma and beta are required");
  expectError([&] { run({x, small, beta, out}, 4); }, bad, "must hold 12 values");
  expectError([&] { run({x, gamma, beta, out, nullptr, &badScaleShift}, 4); }, bad, "must be [N,2C,1,1]");
  expectError([&] { run({x, gamma, beta, out, &small}, 4); }, bad, "must be [N,C,1,1]");
  expectError([&] { run({x, gamma, beta, half, &preAdd}, 4); }, bad, "one storage type");
  Tensor x2 = pool.make({2, 4, 4, 4}, f), x2Rows = pool.make({2, 4, 4, 5}, f), out16 = pool.make({2, 16, 4, 4}, f);
  Tensor g16 = pool.make({1, 16, 1, 1}, f), x2Half = pool.make({2, 4, 4, 4}, DType::F16);
  expectError([&] { run({x, g16, g16, out16, nullptr, nullptr, &x2Rows}, 4); }, bad, "must match in");
  expectError([&] { run({x, g16, g16, out16, nullptr, nullptr, &x2Half}, 4); }, bad, "one storage type");
  expectError([&] { run({x, gamma, beta, out, nullptr, nullptr, &x2}, 4); }, bad, "differs from input");
  Tensor aliased{x.ref, f, {2, 16, 4, 4}};
  aliased.ref.size = aliased.bytes();
  expectError([&] { run({x, g16, g16, aliased, nullptr, nullptr, &x2}, 4); }, bad, "must not overlap");
  Tensor odd = pool.make({1, 4, 3, 3}, f);
  Tensor g4 = pool.make({1, 4, 1, 1}, f);
  expectError(
      [&] {
        ops::groupNorm(prog, kernels(), {odd, g4, g4, odd}, {2, 1e-5f}, ops::GroupNormVariant::Vec4);
      },
      bad, "multiple of 4");
  expectError(
      [&] {
        ops::groupNorm(prog, kernels(), {x, gamma, beta, out}, {4, 1e-5f}, {}, 48);
      },
      bad, "must be a power of two");
  EXPECT_EQ(prog.size(), 0u);
}

}  // namespace
}  // namespace tessera::test
