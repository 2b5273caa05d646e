#include "sampler/sampler_start.hpp"

#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

class SamplerStartTest : public GpuTest {};

struct StartRun {
  std::vector<float> x, e, d, p;
};

StartRun runStart(Shape4 s, std::span<const uint64_t> seeds, float sigma0, float initWeight, uint32_t stream,
                  const std::vector<float>* init) {
  const vk::Gpu& gpu = GpuTest::gpu();
  TensorPool pool(gpu, 6 * s.count() * 4 + 16384);
  sampler::SamplerState st = makeState(pool, s);
  for (const Tensor* t : {&st.x, &st.e, &st.d, &st.p}) pool.poison(*t);
  Tensor tInit;
  if (init) {
    tInit = pool.make(s, DType::F32);
    pool.upload(tInit, *init);
  }
  sampler::StageParams row;
  row.sigmaX = sigma0;
  row.x[3] = initWeight;
  row.stream = stream;
  const BufferRef params = makeParams(pool, row, itemRows(seeds));
  Program prog(gpu);
  sampler::samplerStart(prog, GpuTest::kernels(), params, st, init ? &tInit : nullptr);
  runProgram(gpu, prog);
  return {pool.download(st.x), pool.download(st.e), pool.download(st.d), pool.download(st.p)};
}

void check(Shape4 s, bool withInit) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + (withInit ? " with init" : ""));
  std::mt19937_64 rng(seed);
  const std::vector<uint64_t> seeds = randomSeeds(rng, s.n);
  const float sigma0 = std::uniform_real_distribution<float>(0.5f, 80.0f)(rng);
  const float initWeight = withInit ? std::uniform_real_distribution<float>(0.25f, 1.0f)(rng) : 0.0f;
  const uint32_t stream = uint32_t(rng() % 100);
  const std::vector<float> init = randomVector(rng, s.count());
  const uint32_t perItem = s.c * s.h * s.w;
  const uint32_t streams[] = {stream};
  const std::vector<float> z = batchNoise(seeds, streams, perItem)[0];

  const StartRun r = runStart(s, seeds, sigma0, initWeight, stream, withInit ? &init : nullptr);
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i)
    want[i] = double(sigma0) * z[i] + (withInit ? double(initWeight) * init[i] : 0.0);
  expectClose(r.x, want, DType::F32, "X");
  expectClose(r.e, want, DType::F32, "E");
  for (std::size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(r.d[i], 0.0f) << "D[" << i << "]";
    ASSERT_EQ(r.p[i], 0.0f) << "P[" << i << "]";
  }
}

TEST_F(SamplerStartTest, NoiseAloneMatchesReference) {
  check({3, 3, 7, 5}, false);
  check({2, 13, 3, 9}, false);
}

TEST_F(SamplerStartTest, WeightedInitPlusNoiseMatchesReference) {
  check({2, 3, 11, 6}, true);
  check({1, 13, 5, 5}, true);
}

TEST_F(SamplerStartTest, AnImageDoesNotDependOnItsBatch) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::vector<uint64_t> three = randomSeeds(rng, 3);
  const Shape4 s3{3, 3, 9, 7}, s1{1, 3, 9, 7};
  const uint32_t perItem = 3 * 9 * 7;
  const StartRun batch = runStart(s3, three, 14.5f, 0.0f, 0, nullptr);
  const uint64_t last[] = {three[2]};
  const StartRun alone = runStart(s1, last, 14.5f, 0.0f, 0, nullptr);
  for (uint32_t i = 0; i < perItem; ++i)
    ASSERT_EQ(std::memcmp(&batch.x[2 * perItem + i], &alone.x[i], 4), 0)
        << "element " << i << ": " << batch.x[2 * perItem + i] << " vs " << alone.x[i];
  // And the images of one batch differ from each other.
  EXPECT_NE(std::memcmp(batch.x.data(), batch.x.data() + perItem, perItem * 4), 0);
}

TEST_F(SamplerStartTest, EqualsGaussianNoiseBitForBit) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Shape4 s{1, 13, 6, 11};  // 858 elements: the last Philox block is partial
  const uint64_t seeds[] = {rng()};
  const float sigma = std::uniform_real_distribution<float>(0.5f, 80.0f)(rng);
  const uint32_t stream = 6;
  const StartRun r = runStart(s, seeds, sigma, 0.0f, stream, nullptr);

  TensorPool pool(gpu(), s.count() * 4 + 4096);
  const Tensor z = pool.make(s, DType::F32);
  pool.poison(z);
  Program prog(gpu());
  ops::gaussianNoise(prog, kernels(), z, seeds[0], stream, 0, sigma);
  runProgram(gpu(), prog);
  const std::vector<float> want = pool.download(z);
  for (std::size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(std::memcmp(&r.x[i], &want[i], 4), 0) << "element " << i << ": " << r.x[i] << " vs " << want[i];
}

TEST_F(SamplerStartTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  const Shape4 s{2, 3, 4, 4};
  sampler::SamplerState st = makeState(pool, s);
  const uint64_t seeds[] = {1, 2};
  const BufferRef params = makeParams(pool, {}, itemRows(seeds));
  Program prog(gpu());
  BufferRef small = params;
  small.size = sampler::paramsBytes(1);
  expectError([&] { sampler::samplerStart(prog, kernels(), small, st); }, ErrorCode::InvalidArgument,
              "params range");
  sampler::SamplerState half = st;
  half.p = pool.make(s, DType::F16);
  expectError([&] { sampler::samplerStart(prog, kernels(), params, half); }, ErrorCode::InvalidArgument,
              "P must be fp32");
  const Tensor wrongInit = pool.make({2, 3, 4, 5}, DType::F32);
  expectError([&] { sampler::samplerStart(prog, kernels(), params, st, &wrongInit); },
              ErrorCode::InvalidArgument, "Init is [2,3,4,5]");
}

}  // namespace
}  // namespace tessera::test
