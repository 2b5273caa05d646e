#include "ops/attention.hpp"

#include <cmath>

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class AttentionTest : public GpuTest {};

struct Linear {
  std::vector<float> w, b;  // [out, in], [out]
};

// diffusers' Attention (AttnProcessor2_0, residual_connection, bias) after its GroupNorm, in
// double precision: xn, x as [N, C, HW].
std::vector<double> reference(const Shape4& s, uint32_t headDim, float rescale, std::span<const float> xn,
                              std::span<const float> x, const Linear& lq, const Linear& lk, const Linear& lv,
                              const Linear& lo) {
  const uint32_t c = s.c, hw = s.h * s.w, heads = c / headDim;
  std::vector<double> out(s.count());
  // tokens[t][c] of one image through one linear layer.
  auto project = [&](const Linear& l, const auto& in, std::size_t base) {
    std::vector<double> y(std::size_t(hw) * c);
    for (uint32_t t = 0; t < hw; ++t)
      for (uint32_t co = 0; co < c; ++co) {
        double acc = l.b[co];
        for (uint32_t ci = 0; ci < c; ++ci)
          acc += double(l.w[std::size_t(co) * c + ci]) * in[base + std::size_t(ci) * hw + t];
        y[std::size_t(t) * c + co] = acc;
      }
    return y;
  };
  const double scale = 1.0 / std::sqrt(double(headDim));
  for (uint32_t n = 0; n < s.n; ++n) {
    const std::size_t base = std::size_t(n) * c * hw;
    const auto q = project(lq, xn, base), k = project(lk, xn, base), v = project(lv, xn, base);
    std::vector<double> o(std::size_t(hw) * c, 0.0);  // [t][c], heads side by side
    std::vector<double> score(hw);
    for (uint32_t h = 0; h < heads; ++h)
      for (uint32_t t = 0; t < hw; ++t) {
        double mx = -INFINITY;
        for (uint32_t j = 0; j < hw; ++j) {
          double d = 0;
          for (uint32_t e = 0; e < headDim; ++e)
            d += q[std::size_t(t) * c + h * headDim + e] * k[std::size_t(j) * c + h * headDim + e];
          score[j] = d * scale;
          mx = std::max(mx, score[j]);
        }
        double sum = 0;
        for (uint32_t j = 0; j < hw; ++j) sum += (score[j] = std::exp(score[j] - mx));
        for (uint32_t j = 0; j < hw; ++j)
          for (uint32_t e = 0; e < headDim; ++e)
            o[std::size_t(t) * c + h * headDim + e] +=
                score[j] / sum * v[std::size_t(j) * c + h * headDim + e];
      }
    // to_out.0 on o's tokens, back to channels-first, + residual, / rescale.
    std::vector<double> oc(std::size_t(c) * hw);
    for (uint32_t t = 0; t < hw; ++t)
      for (uint32_t ci = 0; ci < c; ++ci) oc[std::size_t(ci) * hw + t] = o[std::size_t(t) * c + ci];
    const auto y = project(lo, oc, 0);
    for (uint32_t co = 0; co < c; ++co)
      for (uint32_t t = 0; t < hw; ++t) {
        const std::size_t i = base + std::size_t(co) * hw + t;
        out[i] = (y[std::size_t(t) * c + co] + x[i]) / rescale;
      }
  }
  return out;
}

void check(DType dt, Shape4 s, uint32_t headDim, bool outIsX = false, bool general = false) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " head_dim " + std::to_string(headDim) +
               " " + dtypeName(dt) + (general ? " general kernels" : ""));
  std::mt19937_64 rng(seed);
  const uint32_t c = s.c;
  // Weights at twice PyTorch's default init range, so scores spread over several units and the
  // softmax is neither flat nor one-hot.
  const float a = 2.0f / std::sqrt(float(c));
  auto linear = [&] {
    return Linear{roundTo(dt, randomVector(rng, std::size_t(c) * c, -a, a)),
                  roundTo(dt, randomVector(rng, c, -0.5f, 0.5f))};
  };
  const Linear lq = linear(), lk = linear(), lv = linear(), lo = linear();
  const auto xn = roundTo(dt, randomVector(rng, s.count(), -2.0f, 2.0f));
  const auto x = roundTo(dt, randomVector(rng, s.count(), -0.5f, 0.5f));
  const float rescale = std::uniform_real_distribution<float>(0.5f, 2.0f)(rng);

  const std::size_t scratchBytes = ops::attentionScratchBytes(s, headDim, dt);
  TensorPool pool(GpuTest::gpu(), 4 * (3 * s.count() + 4 * (c * c + c)) + scratchBytes + 64 * 1024);
  Tensor txn = pool.make(s, dt), tx = pool.make(s, dt);
  Tensor out = outIsX ? tx : pool.make(s, dt);
  ops::AttentionWeights w;
  std::pair<Tensor*, const Linear*> layers[] = {{&w.toQ, &lq}, {&w.toK, &lk}, {&w.toV, &lv}, {&w.toOut, &lo}};
  for (auto& [weight, l] : layers) {
    weight[0] = pool.make({c, c, 1, 1}, dt);
    weight[1] = pool.make({c, 1, 1, 1}, dt);
    pool.upload(weight[0], l->w);
    pool.upload(weight[1], l->b);
  }
  // A scratch tensor of exactly the advertised size, poisoned so any part read before it is
  // written shows.
  Tensor scratch = pool.make({1, 1, 1, uint32_t(scratchBytes / dtypeSize(dt))}, dt);
  ASSERT_EQ(scratch.bytes(), scratchBytes);
  pool.poison(scratch);
  pool.upload(txn, xn);
  pool.upload(tx, x);
  if (!outIsX) pool.poison(out);

  Program prog(GpuTest::gpu());
  ops::AttentionOptions options;
  options.generalKernels = general;
  ops::attention(prog, GpuTest::kernels(), txn, tx, w, scratch, out, headDim, rescale, options);
  runProgram(GpuTest::gpu(), prog);
  expectClose(pool.download(out), reference(s, headDim, rescale, xn, x, lq, lk, lv, lo), dt, "attention");
}

TEST_F(AttentionTest, ThreeHeadsOfEightOn8x8) {
  for (DType t : precisions()) check(t, {2, 24, 8, 8}, 8);
}

TEST_F(AttentionTest, TwoHeadsOf32On16x16) {
  for (DType t : precisions()) check(t, {1, 64, 16, 16}, 32);
}

TEST_F(AttentionTest, OneHeadOf64) {
  for (DType t : precisions()) {
    check(t, {2, 64, 4, 8}, 64);
    check(t, {2, 64, 7, 5}, 64);  // a token count that is not a multiple of 4
  }
}

TEST_F(AttentionTest, FourHeadsOf32With128ChannelsOn8x8) {
  for (DType t : precisions()) check(t, {1, 128, 8, 8}, 32);
}

TEST_F(AttentionTest, OddChannelCountsAsOneHead) {
  for (DType t : precisions()) {
    check(t, {1, 13, 7, 5}, 13);
    check(t, {2, 3, 5, 9}, 3);
  }
}

TEST_F(AttentionTest, WritesOverItsResidualInPlace) {
  for (DType t : precisions()) {
    check(t, {1, 24, 4, 6}, 8, /*outIsX=*/true);
    check(t, {1, 24, 9, 7}, 8, /*outIsX=*/true);  // a token count that is not a multiple of 4
  }
}

// Shapes the fast kernels take, through the general ones (the others reach them only for odd
// head_dim or token counts).
TEST_F(AttentionTest, GeneralKernelsOnFastShapes) {
  for (DType t : precisions()) {
    check(t, {2, 24, 8, 8}, 8, false, /*general=*/true);
    check(t, {1, 64, 4, 8}, 32, true, /*general=*/true);
  }
}

TEST_F(AttentionTest, HandlesTheLargestTokenCount) { check(DType::F32, {1, 32, 32, 32}, 16); }

TEST_F(AttentionTest, RefusesBadInputs) {
  const Shape4 s{1, 24, 8, 8};
  TensorPool pool(gpu(), 1 << 20);
  Tensor xn = pool.make(s, DType::F32), x = pool.make(s, DType::F32), out = pool.make(s, DType::F32);
  ops::AttentionWeights w;
  for (Tensor* t : {&w.toQ, &w.toK, &w.toV, &w.toOut}) *t = pool.make({24, 24, 1, 1}, DType::F32);
  for (Tensor* t : {&w.toQBias, &w.toKBias, &w.toVBias, &w.toOutBias})
    *t = pool.make({24, 1, 1, 1}, DType::F32);
  Tensor scratch =
      pool.make({1, 1, 1, uint32_t(ops::attentionScratchBytes(s, 8, DType::F32) / 4)}, DType::F32);
  Program prog(gpu());
  expectError([&] { ops::attention(prog, kernels(), xn, x, w, scratch, out, 16); },
              ErrorCode::InvalidArgument, "head_dim 16 does not divide 24 channels");
  // The scratch sized for 8x8 is too small for 12x12 tokens.
  const Shape4 big{1, 24, 12, 12};
  Tensor bxn = pool.make(big, DType::F32), bx = pool.make(big, DType::F32), bout = pool.make(big, DType::F32);
  expectError([&] { ops::attention(prog, kernels(), bxn, bx, w, scratch, bout, 8); },
              ErrorCode::InvalidArgument, "scratch of");
  Tensor huge = xn;
  huge.shape = {1, 24, 33, 32};
  expectError([&] { ops::attention(prog, kernels(), huge, huge, w, scratch, huge, 8); },
              ErrorCode::InvalidArgument, "1056 tokens");
  ops::AttentionWeights bad = w;
  bad.toK = pool.make({24, 23, 1, 1}, DType::F32);
  expectError([&] { ops::attention(prog, kernels(), xn, x, bad, scratch, out, 8); },
              ErrorCode::InvalidArgument, "to_k.weight has 552 elements");
  expectError([&] { ops::attention(prog, kernels(), xn, x, w, scratch, out, 8, 0.0f); },
              ErrorCode::InvalidArgument, "rescale_output_factor");
  EXPECT_EQ(prog.size(), 0u);
}

}  // namespace
}  // namespace tessera::test
