#include "ops/gaussian_noise.hpp"

#include <array>
#include <cmath>
#include <cstring>
#include <numbers>

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class GaussianNoiseTest : public GpuTest {};

using Words = std::array<uint32_t, 4>;

// Philox-4x32-10 as the paper defines it, written independently of the shader.
Words philox(Words ctr, std::array<uint32_t, 2> key) {
  constexpr uint64_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;
  constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = kM0 * ctr[0], p1 = kM1 * ctr[2];
    ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           uint32_t(p0)};
    key = {key[0] + kW0, key[1] + kW1};
  }
  return ctr;
}

// The documented mapping from an element index to a normal value, in double precision.
double normal(uint64_t seed, uint32_t stream, uint64_t index) {
  const uint64_t block = index / 4;
  const Words w =
      philox({uint32_t(block), uint32_t(block >> 32), stream, 0}, {uint32_t(seed), uint32_t(seed >> 32)});
  const unsigned lane = index % 4;
  const uint32_t a = w[lane < 2 ? 0 : 2], b = w[lane < 2 ? 1 : 3];
  const double u1 = (2.0 * (a >> 9) + 1.0) * std::ldexp(1.0, -24);
  const double u2 = double(b >> 8) * std::ldexp(1.0, -24);
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double theta = 2.0 * std::numbers::pi * u2;
  return lane % 2 == 0 ? r * std::cos(theta) : r * std::sin(theta);
}

std::vector<float> runNoise(DType t, uint32_t count, uint64_t seed, uint32_t stream, uint64_t first,
                            float scale = 1.0f) {
  TensorPool pool(GpuTest::gpu(), std::size_t(count) * 4 + 4096);
  // An odd, non-square shape: the op treats any shape as a flat run of elements.
  Tensor out = pool.make({1, 1, 1, count}, t);
  pool.poison(out);
  Program prog(GpuTest::gpu());
  ops::gaussianNoise(prog, GpuTest::kernels(), out, seed, stream, first, scale);
  runProgram(GpuTest::gpu(), prog);
  return pool.download(out);
}

TEST_F(GaussianNoiseTest, PhiloxMatchesRandom123KnownAnswersAndCpu) {
  struct Case {
    Words ctr;
    std::array<uint32_t, 2> key;
    Words want;  // 0 where only the CPU implementation is the reference
  };
  // Random123's tests/kat_vectors, philox4x32 with 10 rounds.
  std::vector<Case> cases = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 61; ++i) {
    Case c{};
    for (uint32_t& w : c.ctr) w = uint32_t(rng());
    for (uint32_t& k : c.key) k = uint32_t(rng());
    cases.push_back(c);
  }
  const uint32_t n = static_cast<uint32_t>(cases.size());
  vk::HostBuffer buf(gpu(), n * 48 + 1024);
  auto* in = static_cast<uint32_t*>(buf.data());
  for (uint32_t i = 0; i < n; ++i) {
    std::memcpy(in + 8 * i, cases[i].ctr.data(), 16);
    in[8 * i + 4] = cases[i].key[0];
    in[8 * i + 5] = cases[i].key[1];
    in[8 * i + 6] = in[8 * i + 7] = 0xdeadbeef;
  }
  const VkDeviceSize outAt = (n * 32 + 255) / 256 * 256;
  std::memset(static_cast<char*>(buf.data()) + outAt, 0, n * 16);
  buf.flush();
  Program prog(gpu());
  ops::philoxWords(prog, kernels(), buf.ref(0, n * 32), buf.ref(outAt, n * 16), n);
  runProgram(gpu(), prog);
  buf.invalidate();
  const auto* got = reinterpret_cast<const uint32_t*>(static_cast<const char*>(buf.data()) + outAt);
  for (uint32_t i = 0; i < n; ++i) {
    const Words cpu = philox(cases[i].ctr, cases[i].key);
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(got[4 * i + j], cpu[j]) << "case " << i << " word " << j;
      if (i < 3) {
        EXPECT_EQ(got[4 * i + j], cases[i].want[j]) << "known answer " << i << " word " << j;
      }
    }
  }
}

TEST_F(GaussianNoiseTest, MatchesDoubleBoxMullerOnTheSameWords) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const uint64_t key = rng();
  const uint32_t stream = uint32_t(rng());
  const float scale = std::uniform_real_distribution<float>(0.25f, 2.0f)(rng);
  // Start points: 0, one not a multiple of 4, one whose block index crosses 2^32 inside the run,
  // and one far up in the 64-bit range.
  const uint64_t firsts[] = {0, 4 * uint64_t(rng() % 1000) + 3, (uint64_t(1) << 34) - 4 * 1000 - 2,
                             rng() % (uint64_t(1) << 62)};
  const uint32_t count = 10007;
  for (DType t : precisions()) {
    for (uint64_t first : firsts) {
      SCOPED_TRACE(std::string(dtypeName(t)) + " first " + std::to_string(first));
      const std::vector<float> got = runNoise(t, count, key, stream, first, scale);
      double worst = 0;
      std::size_t worstAt = 0;
      for (uint32_t j = 0; j < count; ++j) {
        const double want = scale * normal(key, stream, first + j);
        // fp32: transcendentals within a few ulp; fp16 adds up to one fp16 ulp of rounding.
        const double bound = t == DType::F32 ? 1e-5 : 1e-5 + std::abs(want) * std::ldexp(1.0, -10);
        const double e = std::abs(got[j] - want) / bound;
        ASSERT_TRUE(std::isfinite(got[j])) << "element " << j;
        if (e > worst) {
          worst = e;
          worstAt = j;
        }
      }
      EXPECT_LE(worst, 1.0) << "element " << worstAt << " is " << got[worstAt] << ", expected "
                            << scale * normal(key, stream, first + worstAt);
    }
  }
}

TEST_F(GaussianNoiseTest, MillionSamplesHaveZeroMeanAndUnitVariance) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const uint32_t count = 1u << 20;
  for (DType t : precisions()) {
    SCOPED_TRACE(dtypeName(t));
    const std::vector<float> z = runNoise(t, count, seed, 7, 0);
    double sum = 0, sum2 = 0;
    std::array<double, 4> laneSum2{};
    for (uint32_t i = 0; i < count; ++i) {
      ASSERT_TRUE(std::isfinite(z[i])) << "element " << i;
      sum += z[i];
      sum2 += double(z[i]) * z[i];
      laneSum2[i % 4] += double(z[i]) * z[i];
    }
    const double mean = sum / count, var = sum2 / count - mean * mean;
    EXPECT_LT(std::abs(mean), 0.005);
    EXPECT_LT(std::abs(var - 1.0), 0.01);
    // Each Box-Muller output (cos and sin of both pairs) is itself a unit normal.
    for (int lane = 0; lane < 4; ++lane)
      EXPECT_LT(std::abs(laneSum2[lane] / (count / 4) - 1.0), 0.02) << lane;
  }
}

TEST_F(GaussianNoiseTest, AnOffsetRunReproducesASliceOfALongerOne) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (DType t : precisions()) {
    const uint64_t first = rng() % 1000;
    const std::vector<float> whole = runNoise(t, 5000, seed, 3, first);
    for (uint32_t offset : {0u, 1u, 2u, 3u, 4u, 1237u, 4093u}) {
      const uint32_t count = std::min<uint32_t>(5000 - offset, 1 + uint32_t(rng() % 900));
      const std::vector<float> part = runNoise(t, count, seed, 3, first + offset);
      for (uint32_t j = 0; j < count; ++j)
        ASSERT_EQ(std::memcmp(&part[j], &whole[offset + j], 4), 0)
            << dtypeName(t) << " offset " << offset << " element " << j << ": " << part[j] << " vs "
            << whole[offset + j];
    }
  }
}

TEST_F(GaussianNoiseTest, SeedsAndStreamsGiveDifferentNoise) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const uint32_t count = 4096;
  const std::vector<float> base = runNoise(DType::F32, count, seed, 0, 0);
  // Neighbouring seeds, a seed differing only in its high word, and the next stream.
  const std::vector<std::vector<float>> others = {
      runNoise(DType::F32, count, seed ^ 1, 0, 0),
      runNoise(DType::F32, count, seed ^ (uint64_t(1) << 40), 0, 0), runNoise(DType::F32, count, seed, 1, 0)};
  for (std::size_t k = 0; k < others.size(); ++k) {
    uint32_t same = 0;
    double dot = 0;
    for (uint32_t i = 0; i < count; ++i) {
      same += base[i] == others[k][i];
      dot += double(base[i]) * others[k][i];
    }
    EXPECT_LE(same, 2u) << "variant " << k;
    // Independent unit normals: the correlation has a standard deviation of 1/64 here.
    EXPECT_LT(std::abs(dot / count), 0.08) << "variant " << k;
  }
}

TEST_F(GaussianNoiseTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  Tensor out = pool.make({2, 3, 5, 7}, DType::F32);
  Program prog(gpu());
  expectError([&] { ops::gaussianNoise(prog, kernels(), out, 1, 0, UINT64_MAX - 100); },
              ErrorCode::InvalidArgument, "passes 2^64");
  expectError([&] { ops::gaussianNoise(prog, kernels(), out, 1, 0, 0, NAN); }, ErrorCode::InvalidArgument,
              "scale must be finite");
  Tensor tooBig = out;
  tooBig.shape = {2, 3, 50, 70};
  expectError([&] { ops::gaussianNoise(prog, kernels(), tooBig, 1, 0); }, ErrorCode::InvalidArgument,
              "does not fit its buffer range");
}

}  // namespace
}  // namespace tessera::test
