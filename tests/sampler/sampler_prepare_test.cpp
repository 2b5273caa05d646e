#include "sampler/sampler_prepare.hpp"

#include <cmath>

#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

class SamplerPrepareTest : public GpuTest {};

// n images, `rows` network rows (n or 2n), K classes (0: unconditional).
void check(DType t, Shape4 s, uint32_t rows, uint32_t classes, uint32_t extraChannels = 0) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " state " + s.str() + " rows " + std::to_string(rows) +
               " classes " + std::to_string(classes) + " " + dtypeName(t));
  std::mt19937_64 rng(seed);
  const std::vector<float> e = randomVector(rng, s.count(), -80.0f, 80.0f);
  const std::vector<uint64_t> seeds = randomSeeds(rng, s.n);
  std::vector<uint32_t> labels(s.n);
  for (uint32_t& l : labels) l = classes ? uint32_t(rng() % classes) : 0;
  sampler::StageParams row;
  row.cIn = std::uniform_real_distribution<float>(0.01f, 2.0f)(rng);
  row.cNoise = std::uniform_real_distribution<float>(-2.0f, 999.0f)(rng);
  row.nullClass = classes ? uint32_t(rng() % classes) : 0;
  row.classCount = classes;

  const vk::Gpu& gpu = GpuTest::gpu();
  TensorPool pool(gpu, 4 * (s.count() * 3 * (1 + extraChannels) + rows * (classes + 1)) + 16384);
  const Tensor te = pool.make(s, DType::F32);
  const Tensor netIn = pool.make({rows, s.c + extraChannels, s.h, s.w}, t);
  const Tensor ts = pool.make({rows, 1, 1, 1}, DType::F32);
  Tensor cls;
  if (classes) cls = pool.make({rows, classes, 1, 1}, t);
  pool.upload(te, e);
  pool.poison(netIn);
  pool.poison(ts);
  if (classes) pool.poison(cls);
  const BufferRef params = makeParams(pool, row, itemRows(seeds, labels));
  Program prog(gpu);
  sampler::samplerPrepare(prog, GpuTest::kernels(), params, te, netIn, ts, classes ? &cls : nullptr);
  runProgram(gpu, prog);

  std::vector<double> want(std::size_t(rows) * s.c * s.h * s.w);
  const std::size_t stateCount = s.count();
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = double(row.cIn) * e[i % stateCount];
  // A wider input (a cascade stage's) gets the state in its first C channels of each row; the
  // conditioning's channels after them stay as they were (poisoned here).
  const std::vector<float> gotIn = pool.download(netIn);
  const std::size_t perItem = std::size_t(s.c) * s.h * s.w, netPerItem = perItem + std::size_t(extraChannels) * s.h * s.w;
  std::vector<float> state;
  for (uint32_t j = 0; j < rows; ++j) {
    state.insert(state.end(), gotIn.begin() + long(j * netPerItem), gotIn.begin() + long(j * netPerItem + perItem));
    for (std::size_t k = perItem; k < netPerItem; ++k)
      ASSERT_TRUE(std::isnan(gotIn[j * netPerItem + k])) << "row " << j << " conditioning element " << k;
  }
  expectClose(state, want, t, "netIn");
  const std::vector<float> gotTs = pool.download(ts);
  for (uint32_t j = 0; j < rows; ++j) EXPECT_EQ(gotTs[j], row.cNoise) << "timestep " << j;
  if (classes) {
    const std::vector<float> got = pool.download(cls);
    for (uint32_t j = 0; j < rows; ++j) {
      const uint32_t label = j < s.n ? labels[j] : row.nullClass;
      for (uint32_t k = 0; k < classes; ++k)
        ASSERT_EQ(got[j * classes + k], k == label ? 1.0f : 0.0f) << "row " << j << " class " << k;
    }
  }
}

TEST_F(SamplerPrepareTest, UnconditionalInputsMatchReference) {
  for (DType t : precisions()) {
    check(t, {1, 3, 9, 7}, 1, 0);
    check(t, {3, 13, 5, 3}, 3, 0);
  }
}

TEST_F(SamplerPrepareTest, ClassConditionalInputsMatchReference) {
  for (DType t : precisions()) {
    check(t, {2, 3, 6, 5}, 2, 5);
    check(t, {1, 13, 3, 7}, 1, 1);
  }
}

TEST_F(SamplerPrepareTest, CascadeStageInputKeepsItsConditioningChannels) {
  for (DType t : precisions()) {
    check(t, {2, 3, 6, 5}, 2, 0, 3);
    check(t, {1, 4, 3, 7}, 1, 0, 4);
  }
}

TEST_F(SamplerPrepareTest, GuidedBatchRepeatsTheStateWithNullClassRows) {
  for (DType t : precisions()) {
    check(t, {3, 3, 7, 5}, 6, 7);
    check(t, {2, 13, 4, 9}, 4, 3);
  }
}

TEST_F(SamplerPrepareTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  const Shape4 s{2, 3, 4, 4};
  const Tensor e = pool.make(s, DType::F32);
  const uint64_t seeds[] = {1, 2};
  const BufferRef params = makeParams(pool, {}, itemRows(seeds));
  Program prog(gpu());
  const Tensor threeRows = pool.make({3, 3, 4, 4}, DType::F32), ts3 = pool.make({3, 1, 1, 1}, DType::F32);
  expectError([&] { sampler::samplerPrepare(prog, kernels(), params, e, threeRows, ts3); },
              ErrorCode::InvalidArgument, "netIn has 3 rows");
  const Tensor netIn = pool.make(s, DType::F32), halfTs = pool.make({2, 1, 1, 1}, DType::F16);
  expectError([&] { sampler::samplerPrepare(prog, kernels(), params, e, netIn, halfTs); },
              ErrorCode::InvalidArgument, "timesteps must be fp32");
  const Tensor ts = pool.make({2, 1, 1, 1}, DType::F32), badClasses = pool.make({2, 4, 2, 1}, DType::F32);
  expectError([&] { sampler::samplerPrepare(prog, kernels(), params, e, netIn, ts, &badClasses); },
              ErrorCode::InvalidArgument, "classes must be [2, K, 1, 1]");
}

}  // namespace
}  // namespace tessera::test
