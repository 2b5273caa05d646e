#include "ops/upsample.hpp"

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class UpsampleTest : public GpuTest {};

void check(DType t, Shape4 s, ops::UpsampleVariant v = ops::UpsampleVariant::Auto) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " " + dtypeName(t) +
               (v == ops::UpsampleVariant::Scalar ? " scalar" : ""));
  std::mt19937_64 rng(seed);
  const auto x = roundTo(t, randomVector(rng, s.count()));
  const Shape4 os{s.n, s.c, 2 * s.h, 2 * s.w};
  ASSERT_EQ(ops::upsampleNearest2xShape(s), os);
  // PyTorch's nearest: source index = floor(dst * in / out) = floor(dst / 2).
  std::vector<double> want(os.count());
  for (std::size_t p = 0; p < std::size_t(s.n) * s.c; ++p)
    for (uint32_t y = 0; y < os.h; ++y)
      for (uint32_t x0 = 0; x0 < os.w; ++x0)
        want[(p * os.h + y) * os.w + x0] = x[(p * s.h + y / 2) * s.w + x0 / 2];

  TensorPool pool(gpu, 5 * s.count() * 4 + 65536);
  Tensor ti = pool.make(s, t), to = pool.make(os, t);
  pool.upload(ti, x);
  pool.poison(to);
  Program prog(gpu);
  ops::upsampleNearest2x(prog, GpuTest::kernels(), ti, to, v);
  runProgram(gpu, prog);
  // A copy: exact in either precision.
  expectClose(pool.download(to), want, Tolerance{0.0, 0.0}, "upsampleNearest2x");
}

TEST_F(UpsampleTest, MatchesReference) {
  // Odd widths take the scalar kernel, even ones the vec4 kernel; batch 1 and 3, odd channels.
  const Shape4 shapes[] = {{1, 3, 7, 5},   {3, 13, 5, 9}, {1, 13, 1, 1},
                           {3, 3, 17, 34}, {1, 13, 3, 2}, {1, 4, 64, 70}};
  for (DType t : precisions())
    for (Shape4 s : shapes) check(t, s);
}

TEST_F(UpsampleTest, ScalarVariantOnEvenWidths) {
  for (DType t : precisions()) check(t, {3, 13, 6, 10}, ops::UpsampleVariant::Scalar);
}

TEST_F(UpsampleTest, AutoPicksVec4ForEvenWidths) {
  EXPECT_EQ(ops::upsampleVariant(gpu().facts, {1, 3, 5, 6}), ops::UpsampleVariant::Vec4);
  EXPECT_EQ(ops::upsampleVariant(gpu().facts, {1, 3, 6, 5}), ops::UpsampleVariant::Scalar);
}

TEST_F(UpsampleTest, MorePlanesThanOneGridPass) {
  // 70000 channel planes exceed a 65535 workgroup-count limit in z.
  for (DType t : precisions())
    for (auto v : {ops::UpsampleVariant::Scalar, ops::UpsampleVariant::Vec4}) check(t, {1, 70000, 1, 2}, v);
}

TEST_F(UpsampleTest, RefusesBadInput) {
  TensorPool pool(gpu(), 1 << 16);
  Tensor in = pool.make({1, 3, 4, 5}, DType::F32), out = pool.make({1, 3, 8, 9}, DType::F32);
  Tensor half = pool.make({1, 3, 8, 10}, DType::F16), empty = pool.make({1, 3, 0, 5}, DType::F32);
  Program prog(gpu());
  const ErrorCode bad = ErrorCode::InvalidArgument;
  expectError([&] { ops::upsampleNearest2x(prog, kernels(), in, out); }, bad, "must be [1,3,8,10]");
  expectError([&] { ops::upsampleNearest2x(prog, kernels(), in, half); }, bad, "one storage type");
  expectError([&] { ops::upsampleNearest2x(prog, kernels(), empty, out); }, bad, "is empty");
  Tensor oddOut = pool.make({1, 3, 8, 10}, DType::F32);
  expectError([&] { ops::upsampleNearest2x(prog, kernels(), in, oddOut, ops::UpsampleVariant::Vec4); }, bad,
              "needs an even input width");
  EXPECT_EQ(prog.size(), 0u);
}

}  // namespace
}  // namespace tessera::test
