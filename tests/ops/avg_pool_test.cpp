#include "ops/avg_pool.hpp"

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class AvgPoolTest : public GpuTest {};

void check(DType t, Shape4 s, ops::AvgPoolVariant v = ops::AvgPoolVariant::Auto) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " " + dtypeName(t) +
               (v == ops::AvgPoolVariant::Scalar ? " scalar" : ""));
  std::mt19937_64 rng(seed);
  const auto x = roundTo(t, randomVector(rng, s.count(), -4.0f, 4.0f));
  // floor(H/2) x floor(W/2): an odd input's last row and column fall outside every window.
  const Shape4 os{s.n, s.c, s.h / 2, s.w / 2};
  ASSERT_EQ(ops::avgPool2x2Shape(s), os);
  std::vector<double> want(os.count());
  for (std::size_t p = 0; p < std::size_t(s.n) * s.c; ++p)
    for (uint32_t y = 0; y < os.h; ++y)
      for (uint32_t x0 = 0; x0 < os.w; ++x0) {
        double sum = 0;
        for (uint32_t dy = 0; dy < 2; ++dy)
          for (uint32_t dx = 0; dx < 2; ++dx) sum += x[(p * s.h + 2 * y + dy) * s.w + 2 * x0 + dx];
        want[(p * os.h + y) * os.w + x0] = sum / 4.0;
      }

  TensorPool pool(gpu, 2 * s.count() * 4 + 65536);
  Tensor ti = pool.make(s, t), to = pool.make(os, t);
  pool.upload(ti, x);
  pool.poison(to);
  Program prog(gpu);
  ops::avgPool2x2(prog, GpuTest::kernels(), ti, to, v);
  runProgram(gpu, prog);
  expectClose(pool.download(to), want, t, "avgPool2x2");
}

TEST_F(AvgPoolTest, MatchesReference) {
  // Odd and even sizes (widths a multiple of 4 take the vec4 kernel), odd channel counts, batch 1
  // and 3, rows wider than one workgroup.
  const Shape4 shapes[] = {{1, 3, 7, 5},   {3, 13, 6, 9}, {1, 13, 2, 2},   {3, 3, 17, 33},
                           {3, 13, 7, 12}, {1, 3, 5, 4},  {1, 4, 64, 150}, {1, 4, 33, 264}};
  for (DType t : precisions())
    for (Shape4 s : shapes) check(t, s);
}

TEST_F(AvgPoolTest, ScalarVariantOnWidthsInFours) {
  for (DType t : precisions()) check(t, {3, 13, 9, 12}, ops::AvgPoolVariant::Scalar);
}

TEST_F(AvgPoolTest, AutoPicksVec4ForWidthsInFours) {
  EXPECT_EQ(ops::avgPoolVariant(gpu().facts, {1, 3, 5, 8}), ops::AvgPoolVariant::Vec4);
  EXPECT_EQ(ops::avgPoolVariant(gpu().facts, {1, 3, 8, 6}), ops::AvgPoolVariant::Scalar);
}

TEST_F(AvgPoolTest, MorePlanesThanOneGridPass) {
  // 70000 channel planes exceed a 65535 workgroup-count limit in z.
  for (DType t : precisions()) {
    check(t, {1, 70000, 3, 2});
    check(t, {1, 70000, 2, 4});
  }
}

TEST_F(AvgPoolTest, RefusesBadInput) {
  TensorPool pool(gpu(), 1 << 16);
  Tensor in = pool.make({1, 3, 7, 5}, DType::F32), out = pool.make({1, 3, 4, 2}, DType::F32);
  Tensor half = pool.make({1, 3, 3, 2}, DType::F16), thin = pool.make({1, 3, 1, 8}, DType::F32);
  Tensor thinOut = pool.make({1, 3, 0, 4}, DType::F32);
  Program prog(gpu());
  const ErrorCode bad = ErrorCode::InvalidArgument;
  expectError([&] { ops::avgPool2x2(prog, kernels(), in, out); }, bad, "must be [1,3,3,2]");
  expectError([&] { ops::avgPool2x2(prog, kernels(), in, half); }, bad, "one storage type");
  expectError([&] { ops::avgPool2x2(prog, kernels(), thin, thinOut); }, bad, "smaller than the 2x2 window");
  Tensor wide = pool.make({1, 3, 4, 6}, DType::F32), wideOut = pool.make({1, 3, 2, 3}, DType::F32);
  expectError([&] { ops::avgPool2x2(prog, kernels(), wide, wideOut, ops::AvgPoolVariant::Vec4); }, bad,
              "multiple of 4");
  EXPECT_EQ(prog.size(), 0u);
}

}  // namespace
}  // namespace tessera::test
