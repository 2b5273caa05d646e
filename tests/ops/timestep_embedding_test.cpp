#include "ops/timestep_embedding.hpp"

#include <cmath>

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class TimestepEmbeddingTest : public GpuTest {};

struct Want {
  std::vector<double> value;
  std::vector<double> bound;  // what fp32 can promise for each element
};

// get_timestep_embedding in double precision, from the fp32 timesteps the GPU reads.
Want reference(std::span<const float> t, uint32_t dim, const ops::TimestepEmbeddingParams& p) {
  const uint32_t half = dim / 2;
  Want w{std::vector<double>(t.size() * dim, 0.0), std::vector<double>(t.size() * dim, 2e-7)};
  for (std::size_t n = 0; n < t.size(); ++n) {
    for (uint32_t i = 0; i < half; ++i) {
      const double exponent =
          -std::log(double(p.maxPeriod)) * i / (double(half) - double(p.downscaleFreqShift));
      const double a = double(p.scale) * double(t[n]) * std::exp(exponent);
      const std::size_t first = n * dim + i, second = n * dim + half + i;
      w.value[first] = p.flipSinToCos ? std::cos(a) : std::sin(a);
      w.value[second] = p.flipSinToCos ? std::sin(a) : std::cos(a);
      // fp32 (PyTorch's included) rounds the exponent x, which scales f = e^x by (1 + |x| ulp), then
      // f, t*f and scale*t*f: the argument is known to about (4 + 3|x|) ulp of itself, and sin/cos
      // pass that error on unchanged (~1e-4 at t = 1000, far above a flat tolerance on [-1, 1]).
      w.bound[first] = w.bound[second] =
          2e-7 + (4.0 + 3.0 * std::abs(exponent)) * std::abs(a) * std::ldexp(1.0, -24);
    }
  }
  return w;
}

void check(DType dtype, uint32_t dim, const ops::TimestepEmbeddingParams& params, std::vector<float> t) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " dim " + std::to_string(dim) + " flip " +
               std::to_string(params.flipSinToCos) + " shift " + std::to_string(params.downscaleFreqShift) +
               " scale " + std::to_string(params.scale) + " " + dtypeName(dtype));
  std::mt19937_64 rng(seed);
  // Fresh non-integer steps over the whole schedule on top of the fixed ones.
  for (float x : randomVector(rng, 9, 0.0f, 1000.0f)) t.push_back(x);
  const uint32_t n = static_cast<uint32_t>(t.size());

  TensorPool pool(GpuTest::gpu(), (n + n * dim) * 4 + 4096);
  Tensor tt = pool.make({n, 1, 1, 1}, DType::F32);
  Tensor out = pool.make({n, dim, 1, 1}, dtype);
  pool.upload(tt, t);
  pool.poison(out);
  Program prog(GpuTest::gpu());
  ops::timestepEmbedding(prog, GpuTest::kernels(), tt, out, params);
  runProgram(GpuTest::gpu(), prog);

  const Want want = reference(t, dim, params);
  const std::vector<float> got = pool.download(out);
  if (dtype == DType::F16) {
    expectClose(got, want.value, dtype, "timestep_embedding");
    return;
  }
  double worstRatio = 0;
  std::size_t worstAt = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << "element " << i;
    const double ratio = std::abs(got[i] - want.value[i]) / want.bound[i];
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstAt = i;
    }
  }
  EXPECT_LE(worstRatio, 1.0) << "element " << worstAt << " (row " << worstAt / dim << ", column "
                             << worstAt % dim << ", t " << t[worstAt / dim] << ") is " << got[worstAt]
                             << ", expected " << want.value[worstAt];
}

// Integer steps at both ends of a 1000-step schedule, and fractional ones.
std::vector<float> fixedSteps() { return {0.0f, 1.0f, 999.0f, 1000.0f, 0.5f, 261.25f, 999.75f}; }

TEST_F(TimestepEmbeddingTest, MatchesDiffusersDefaults) {
  for (DType t : precisions()) check(t, 128, {}, fixedSteps());
}

TEST_F(TimestepEmbeddingTest, MatchesUNet2DModelTimeProjFlippedWithoutShift) {
  ops::TimestepEmbeddingParams p;
  p.flipSinToCos = true;
  p.downscaleFreqShift = 0.0f;
  for (DType t : precisions()) check(t, 64, p, fixedSteps());
}

TEST_F(TimestepEmbeddingTest, OddDimPadsTheLastColumnWithZero) {
  for (DType t : precisions()) {
    for (bool flip : {false, true}) {
      ops::TimestepEmbeddingParams p;
      p.flipSinToCos = flip;
      p.downscaleFreqShift = flip ? 0.0f : 1.0f;
      check(t, 33, p, fixedSteps());
      check(t, flip ? 3 : 5, p, fixedSteps());  // dim 3 with shift 1 would divide by 0
    }
  }
}

TEST_F(TimestepEmbeddingTest, ScaleAndMaxPeriodChangeTheFrequencies) {
  ops::TimestepEmbeddingParams p;
  p.scale = 0.37f;
  p.maxPeriod = 512.0f;
  p.downscaleFreqShift = 0.0f;
  for (DType t : precisions()) check(t, 20, p, fixedSteps());
}

TEST_F(TimestepEmbeddingTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  Tensor t32 = pool.make({4, 1, 1, 1}, DType::F32);
  Tensor out = pool.make({4, 16, 1, 1}, DType::F32);
  Program prog(gpu());
  if (gpu().facts.storage16) {
    Tensor t16 = pool.make({4, 1, 1, 1}, DType::F16);
    expectError([&] { ops::timestepEmbedding(prog, kernels(), t16, out); }, ErrorCode::InvalidArgument,
                "timesteps must be fp32");
  }
  Tensor out5 = pool.make({5, 16, 1, 1}, DType::F32);
  expectError([&] { ops::timestepEmbedding(prog, kernels(), t32, out5); }, ErrorCode::InvalidArgument,
              "4 timesteps for an output of 5 rows");
  Tensor out2 = pool.make({4, 2, 1, 1}, DType::F32);
  expectError([&] { ops::timestepEmbedding(prog, kernels(), t32, out2); }, ErrorCode::InvalidArgument,
              "divide by 0");
  Tensor spatial = pool.make({4, 16, 2, 2}, DType::F32);
  expectError([&] { ops::timestepEmbedding(prog, kernels(), t32, spatial); }, ErrorCode::InvalidArgument,
              "[N, dim, 1, 1]");
}

}  // namespace
}  // namespace tessera::test
