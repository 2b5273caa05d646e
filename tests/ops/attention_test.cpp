#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class AttentionTest : public GpuTest {};

struct Linear {
  std::vector<float> w, b;  // [out, in], [out]
};

// diffusers' Attention (AttnProcessor2_0, residual_connection, bias) after its GroupNorm, in
// double precision: xn, x as [N, C, HW]. Returns the outputs of the given tokens only, as
// [N, C, tokens.size()], so large maps can be checked on a sample of query rows (each output
// token depends on its own query and every key and value).
std::vector<double> reference(const Shape4& s, uint32_t headDim, float rescale, std::span<const float> xn,
                              std::span<const float> x, const Linear& lq, const Linear& lk, const Linear& lv,
                              const Linear& lo, std::span<const uint32_t> tokens) {
  const uint32_t c = s.c, hw = s.h * s.w, heads = c / headDim;
  const std::size_t nt = tokens.size();
  std::vector<double> out(std::size_t(s.n) * c * nt);
  // y[i][c]: linear layer l on token at(i) of one image whose channel ci is in[base + ci * stride].
  auto project = [&](const Linear& l, const auto& in, std::size_t base, std::size_t stride, std::size_t count,
                     auto at) {
    std::vector<double> y(count * c);
    for (std::size_t i = 0; i < count; ++i)
      for (uint32_t co = 0; co < c; ++co) {
        double acc = l.b[co];
        for (uint32_t ci = 0; ci < c; ++ci)
          acc += double(l.w[std::size_t(co) * c + ci]) * in[base + ci * stride + at(i)];
        y[i * c + co] = acc;
      }
    return y;
  };
  const auto every = [](std::size_t i) { return i; };
  const auto chosen = [&](std::size_t i) { return std::size_t(tokens[i]); };
  const double scale = 1.0 / std::sqrt(double(headDim));
  for (uint32_t n = 0; n < s.n; ++n) {
    const std::size_t base = std::size_t(n) * c * hw;
    const auto q = project(lq, xn, base, hw, nt, chosen);
    const auto k = project(lk, xn, base, hw, hw, every), v = project(lv, xn, base, hw, hw, every);
    std::vector<double> o(nt * c, 0.0);  // [i][c], heads side by side
    std::vector<double> score(hw);
    for (uint32_t h = 0; h < heads; ++h)
      for (std::size_t i = 0; i < nt; ++i) {
        double mx = -INFINITY;
        for (uint32_t j = 0; j < hw; ++j) {
          double d = 0;
          for (uint32_t e = 0; e < headDim; ++e)
            d += q[i * c + h * headDim + e] * k[std::size_t(j) * c + h * headDim + e];
          score[j] = d * scale;
          mx = std::max(mx, score[j]);
        }
        double sum = 0;
        for (uint32_t j = 0; j < hw; ++j) sum += (score[j] = std::exp(score[j] - mx));
        for (uint32_t j = 0; j < hw; ++j)
          for (uint32_t e = 0; e < headDim; ++e)
            o[i * c + h * headDim + e] += score[j] / sum * v[std::size_t(j) * c + h * headDim + e];
      }
    // to_out.0 on o's tokens (channel ci of token i at o[i * c + ci]), + residual, / rescale.
    const auto y = project(lo, o, 0, 1, nt, [c](std::size_t i) { return i * c; });
    for (uint32_t co = 0; co < c; ++co)
      for (std::size_t i = 0; i < nt; ++i)
        out[(std::size_t(n) * c + co) * nt + i] =
            (y[i * c + co] + x[base + std::size_t(co) * hw + tokens[i]]) / rescale;
  }
  return out;
}

// The given tokens of an [N, C, HW] tensor, as [N, C, tokens.size()].
std::vector<float> gather(const Shape4& s, std::span<const float> v, std::span<const uint32_t> tokens) {
  const std::size_t hw = std::size_t(s.h) * s.w;
  std::vector<float> r;
  r.reserve(std::size_t(s.n) * s.c * tokens.size());
  for (std::size_t nc = 0; nc < std::size_t(s.n) * s.c; ++nc)
    for (uint32_t t : tokens) r.push_back(v[nc * hw + t]);
  return r;
}

struct CheckOptions {
  bool outIsX = false;
  ops::AttentionOptions op;
  // Query rows compared with the reference: 0 for all, else this many drawn at random (plus the
  // first and last), with every output element still checked to be written and finite.
  uint32_t sampledTokens = 0;
};

void check(DType dt, Shape4 s, uint32_t headDim, const CheckOptions& co) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE(
      "seed " + std::to_string(seed) + " shape " + s.str() + " head_dim " + std::to_string(headDim) + " " +
      dtypeName(dt) + (co.op.generalKernels ? " general kernels" : "") +
      (co.op.scoreBlockBytes ? " blocks of " + std::to_string(co.op.scoreBlockBytes) + " bytes" : ""));
  std::mt19937_64 rng(seed);
  const uint32_t c = s.c, hw = s.h * s.w;
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
  Tensor out = co.outIsX ? tx : pool.make(s, dt);
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
  if (!co.outIsX) pool.poison(out);

  Program prog(GpuTest::gpu());
  ops::attention(prog, GpuTest::kernels(), txn, tx, w, scratch, out, headDim, rescale, co.op);
  runProgram(GpuTest::gpu(), prog);
  const std::vector<float> got = pool.download(out);

  std::vector<uint32_t> tokens(hw);
  std::iota(tokens.begin(), tokens.end(), 0u);
  if (co.sampledTokens && co.sampledTokens < hw) {
    // The poison is NaN: an output element no block wrote is not finite.
    for (std::size_t i = 0; i < got.size(); ++i)
      ASSERT_TRUE(std::isfinite(got[i])) << "output element " << i << " is " << got[i];
    std::shuffle(tokens.begin() + 1, tokens.end() - 1, rng);
    tokens.resize(co.sampledTokens - 1);
    tokens.push_back(hw - 1);
    std::sort(tokens.begin(), tokens.end());
  }
  expectClose(gather(s, got, tokens), reference(s, headDim, rescale, xn, x, lq, lk, lv, lo, tokens), dt,
              "attention");
}

void check(DType dt, Shape4 s, uint32_t headDim, bool outIsX = false, bool general = false) {
  CheckOptions co;
  co.outIsX = outIsX;
  co.op.generalKernels = general;
  check(dt, s, headDim, co);
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

TEST_F(AttentionTest, Handles32x32Tokens) { check(DType::F32, {1, 32, 32, 32}, 16); }

// 64x64 tokens, as attention at the 16x16 level of a 64x64 model meets them in a 256x256
// texture, in blocks of query rows (128 rows of both heads at the default budget). The
// reference computes a sample of query rows in full; every output element must still have been
// written.
TEST_F(AttentionTest, Serves4096TokensInBlocks) {
  const Shape4 s{1, 64, 64, 64};
  const ops::AttentionBlocks b = ops::attentionBlocks(s, 32);
  ASSERT_LT(b.rows, 4096u);
  CheckOptions co;
  co.sampledTokens = 200;
  for (DType t : precisions()) check(t, s, 32, co);
}

// Blocks that end inside the map and inside the run of (batch, head) pairs: each block must
// read only its own query rows and write only its own output rows.
TEST_F(AttentionTest, FastPathAcrossBlockEdges) {
  const Shape4 s{2, 64, 16, 15};  // 240 tokens, 8 pairs
  const std::size_t rowBytes = 240 * 4;
  for (DType t : precisions())
    for (std::size_t rows : {512u, 96u}) {
      CheckOptions co;
      co.op.scoreBlockBytes = rows * rowBytes;
      const ops::AttentionBlocks b = ops::attentionBlocks(s, 16, co.op.scoreBlockBytes);
      ASSERT_NE(240 % b.rows, 0u);
      ASSERT_TRUE(b.pairs == 8 || 8 % b.pairs != 0) << b.pairs;  // 64 rows x 8 pairs, 32 rows x 3 pairs
      check(t, s, 16, co);
    }
}

TEST_F(AttentionTest, GeneralPathAcrossBlockEdges) {
  const Shape4 s{2, 24, 33, 31};  // 1023 tokens, 6 pairs: the general kernels
  CheckOptions co;
  co.outIsX = true;
  co.op.scoreBlockBytes = 128 * 1023 * 4;
  const ops::AttentionBlocks b = ops::attentionBlocks(s, 8, co.op.scoreBlockBytes);
  ASSERT_EQ(b.rows, 32u);
  ASSERT_EQ(b.pairs, 4u);
  for (DType t : precisions()) check(t, s, 8, co);
}

// The scores of one block, not of the whole map: 4x the tokens, about 4x the scratch.
TEST_F(AttentionTest, ScratchGrowsLinearlyInTokens) {
  const std::size_t at4k = ops::attentionScratchBytes({1, 128, 64, 64}, 32, DType::F32);
  const std::size_t at16k = ops::attentionScratchBytes({1, 128, 128, 128}, 32, DType::F32);
  const std::size_t qkv16k = 3 * std::size_t(128) * 16384 * 4;
  EXPECT_LE(at16k, qkv16k + 2 * ops::kAttentionScoreBlockBytes);
  EXPECT_LE(at16k, 5 * at4k);
}

// 128x128 tokens are planned, not run: their 70 GFLOP take lavapipe 12-21 s.
TEST_F(AttentionTest, Plans16384Tokens) {
  const Shape4 s{1, 64, 128, 128};
  const std::size_t scratchBytes = ops::attentionScratchBytes(s, 32, DType::F32);
  TensorPool pool(gpu(), 2 * s.count() * 4 + scratchBytes + 4 * (64 * 64 + 64) * 4 + 64 * 1024);
  Tensor xn = pool.make(s, DType::F32), x = pool.make(s, DType::F32);
  ops::AttentionWeights w;
  for (Tensor* t : {&w.toQ, &w.toK, &w.toV, &w.toOut}) *t = pool.make({64, 64, 1, 1}, DType::F32);
  for (Tensor* t : {&w.toQBias, &w.toKBias, &w.toVBias, &w.toOutBias})
    *t = pool.make({64, 1, 1, 1}, DType::F32);
  Tensor scratch = pool.make({1, 1, 1, uint32_t(scratchBytes / 4)}, DType::F32);
  Program prog(gpu());
  ops::attention(prog, kernels(), xn, x, w, scratch, x, 32);
  const ops::AttentionBlocks b = ops::attentionBlocks(s, 32);
  const std::size_t blocks = (2 + b.pairs - 1) / b.pairs * ((16384 + b.rows - 1) / b.rows);
  EXPECT_EQ(prog.size(), 4 + 3 * blocks);
}

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
  // So many tokens that k alone (bound whole) outgrows the device's storage-buffer range.
  const uint64_t range = gpu().facts.maxStorageBufferRange;
  Tensor huge = xn;
  huge.shape = {1, 24, 1024, uint32_t(range / (24 * 4 * 1024) + 1)};
  expectError([&] { ops::attention(prog, kernels(), huge, huge, w, scratch, huge, 8); },
              ErrorCode::InvalidArgument,
              "storage-buffer range of " + std::to_string(range) + " bytes allows at most");
  Tensor empty = xn;
  empty.shape = {1, 24, 0, 8};
  expectError([&] { ops::attention(prog, kernels(), empty, empty, w, scratch, empty, 8); },
              ErrorCode::InvalidArgument, "is empty");
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
