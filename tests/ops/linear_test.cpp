#include "ops/linear.hpp"

#include <cmath>

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class LinearTest : public GpuTest {};

struct Case {
  uint32_t n, k, m;
  bool bias = false;
  bool siluInput = false;
  bool siluOutput = false;
  ops::LinearVariant variant = ops::LinearVariant::Auto;
};

double silu(double v) { return v / (1.0 + std::exp(-v)); }

void check(DType t, const Case& c) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " N " + std::to_string(c.n) + " K " + std::to_string(c.k) +
               " M " + std::to_string(c.m) + (c.bias ? " bias" : "") + (c.siluInput ? " siluInput" : "") +
               (c.siluOutput ? " siluOutput" : "") +
               (c.variant == ops::LinearVariant::Scalar ? " scalar" : "") + " " + dtypeName(t));
  std::mt19937_64 rng(seed);
  const auto x = roundTo(t, randomVector(rng, std::size_t(c.n) * c.k, -3.0f, 3.0f));
  // PyTorch's default init scale, so outputs stay O(1) whatever K is.
  const float bound = 1.0f / std::sqrt(float(c.k));
  const auto w = roundTo(t, randomVector(rng, std::size_t(c.m) * c.k, -bound, bound));
  const auto b = roundTo(t, randomVector(rng, c.m, -bound, bound));

  std::vector<double> want(std::size_t(c.n) * c.m);
  for (uint32_t n = 0; n < c.n; ++n)
    for (uint32_t m = 0; m < c.m; ++m) {
      double s = c.bias ? b[m] : 0.0;
      for (uint32_t k = 0; k < c.k; ++k) {
        const double a = c.siluInput ? silu(x[std::size_t(n) * c.k + k]) : x[std::size_t(n) * c.k + k];
        s += a * w[std::size_t(m) * c.k + k];
      }
      want[std::size_t(n) * c.m + m] = c.siluOutput ? silu(s) : s;
    }

  TensorPool pool(gpu, (x.size() + w.size() + b.size() + want.size()) * 4 + 65536);
  Tensor tx = pool.make({c.n, c.k, 1, 1}, t), tw = pool.make({c.m, c.k, 1, 1}, t);
  Tensor tb = pool.make({1, c.m, 1, 1}, t), to = pool.make({c.n, c.m, 1, 1}, t);
  pool.upload(tx, x);
  pool.upload(tw, w);
  pool.upload(tb, b);
  pool.poison(to);
  Program prog(gpu);
  ops::linear(prog, GpuTest::kernels(), {tx, tw, to, c.bias ? &tb : nullptr}, {c.siluInput, c.siluOutput},
              c.variant);
  runProgram(gpu, prog);
  expectClose(pool.download(to), want, t, "linear");
}

TEST_F(LinearTest, EveryOptionCombinationMatchesReference) {
  // K a multiple of 4 or not (the two variants), odd M, batch 1, 3 and 6 (more rows than the
  // kernel takes at once).
  const Case shapes[] = {{1, 13, 3}, {3, 3, 13}, {3, 132, 37}, {6, 20, 5}, {1, 1, 5}};
  for (DType t : precisions())
    for (Case c : shapes)
      for (int mask = 0; mask < 8; ++mask) {
        c.bias = mask & 1;
        c.siluInput = mask & 2;
        c.siluOutput = mask & 4;
        check(t, c);
      }
}

TEST_F(LinearTest, TimeEmbeddingSizes) {
  // TimestepEmbedding 128 -> 512 -> 512, and a time_emb_proj to 2C for scale-shift, at batch 16.
  for (DType t : precisions()) {
    check(t, {16, 128, 512, true, false, true});
    check(t, {16, 512, 512, true});
    check(t, {16, 1024, 1024, true, true, false});
  }
}

TEST_F(LinearTest, ScalarVariantWithLongRows) {
  for (DType t : precisions()) {
    check(t, {5, 1023, 33, true, true, false});
    Case c{3, 1024, 17, true, false, true};
    c.variant = ops::LinearVariant::Scalar;
    check(t, c);
  }
}

TEST_F(LinearTest, AutoPicksVec4OnlyForWholeVectors) {
  EXPECT_EQ(ops::linearVariant(gpu().facts, 512), ops::LinearVariant::Vec4);
  EXPECT_EQ(ops::linearVariant(gpu().facts, 13), ops::LinearVariant::Scalar);
}

TEST_F(LinearTest, MoreOutputsThanOneGridPass) {
  // 4.5 million output features are more than 65535 workgroups of 64 invocations cover at once.
  check(DType::F32, {1, 1, 4500000, true});
}

TEST_F(LinearTest, RefusesBadInput) {
  TensorPool pool(gpu(), 1 << 16);
  const DType f = DType::F32;
  Tensor x = pool.make({2, 8, 1, 1}, f), w = pool.make({5, 8, 1, 1}, f), out = pool.make({2, 5, 1, 1}, f);
  Tensor wrongW = pool.make({5, 7, 1, 1}, f), wrongOut = pool.make({2, 6, 1, 1}, f),
         b = pool.make({1, 4, 1, 1}, f);
  Tensor image = pool.make({2, 8, 2, 1}, f), half = pool.make({2, 5, 1, 1}, DType::F16);
  Program prog(gpu());
  const ErrorCode bad = ErrorCode::InvalidArgument;
  expectError([&] { ops::linear(prog, kernels(), {x, wrongW, out}); }, bad, "takes 7 inputs");
  expectError([&] { ops::linear(prog, kernels(), {x, w, wrongOut}); }, bad, "must be [2,5,1,1]");
  expectError([&] { ops::linear(prog, kernels(), {x, w, out, &b}); }, bad, "must hold 5 values");
  expectError([&] { ops::linear(prog, kernels(), {image, w, out}); }, bad, "must be [rows,features,1,1]");
  expectError([&] { ops::linear(prog, kernels(), {x, Tensor{}, out}); }, bad, "weight is missing");
  expectError([&] { ops::linear(prog, kernels(), {x, w, half}); }, bad, "one storage type");
  Tensor x3 = pool.make({2, 3, 1, 1}, f), w3 = pool.make({5, 3, 1, 1}, f);
  expectError(
      [&] {
        ops::linear(prog, kernels(), {x3, w3, out}, {}, ops::LinearVariant::Vec4);
      },
      bad, "multiple of 4");
  EXPECT_EQ(prog.size(), 0u);
}

}  // namespace
}  // namespace tessera::test
