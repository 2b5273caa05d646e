#pragma once
// Shared by the sampler tests: params rows in a TensorPool, and the reference noise drawn
// through ops::gaussianNoise (whose mapping its own test checks against a double Box-Muller).
#include <cstring>
#include <span>
#include <vector>

#include "gpu_test.hpp"
#include "op_harness.hpp"
#include "ops/gaussian_noise.hpp"
#include "sampler/sampler_params.hpp"
#include "sampler/sampler_state.hpp"

namespace tessera::test {

// The sampler's four fp32 state tensors of one shape, from the pool.
inline sampler::SamplerState makeState(TensorPool& pool, Shape4 s) {
  return {pool.make(s, DType::F32), pool.make(s, DType::F32), pool.make(s, DType::F32), pool.make(s, DType::F32)};
}

// A params buffer (stage row + item rows) placed in `pool`.
inline BufferRef makeParams(TensorPool& pool, const sampler::StageParams& stage,
                            std::span<const sampler::ItemParams> items) {
  const auto words = static_cast<uint32_t>(sampler::paramsBytes(static_cast<uint32_t>(items.size())) / 4);
  const Tensor t = pool.make({1, 1, 1, words}, DType::F32);
  auto* base = static_cast<char*>(pool.buffer().data()) + t.ref.offset;
  std::memcpy(base + sampler::kStageOffset, &stage, sizeof stage);
  std::memcpy(base + sampler::kItemsOffset, items.data(), items.size_bytes());
  pool.buffer().flush();
  return t.ref;
}

inline std::vector<sampler::ItemParams> itemRows(std::span<const uint64_t> seeds,
                                                 std::span<const uint32_t> labels = {}) {
  std::vector<sampler::ItemParams> rows;
  for (std::size_t i = 0; i < seeds.size(); ++i)
    rows.push_back(sampler::itemParams(seeds[i], labels.empty() ? 0 : labels[i]));
  return rows;
}

// For each stream: the batch's noise, image i's perItem values (gaussianNoise with seed_i from
// index 0) at i*perItem. One program for all of them.
inline std::vector<std::vector<float>> batchNoise(std::span<const uint64_t> seeds,
                                                  std::span<const uint32_t> streams, uint32_t perItem) {
  const vk::Gpu& gpu = GpuTest::gpu();
  TensorPool pool(gpu, (std::size_t(perItem) * 4 + 256) * seeds.size() * streams.size() + 4096);
  Program prog(gpu);
  std::vector<std::vector<Tensor>> out(streams.size());
  for (std::size_t s = 0; s < streams.size(); ++s) {
    for (uint64_t seed : seeds) {
      out[s].push_back(pool.make({1, 1, 1, perItem}, DType::F32));
      pool.poison(out[s].back());
      ops::gaussianNoise(prog, GpuTest::kernels(), out[s].back(), seed, streams[s]);
    }
  }
  runProgram(gpu, prog);
  std::vector<std::vector<float>> z(streams.size());
  for (std::size_t s = 0; s < streams.size(); ++s)
    for (const Tensor& t : out[s]) {
      const std::vector<float> v = pool.download(t);
      z[s].insert(z[s].end(), v.begin(), v.end());
    }
  return z;
}

inline std::vector<uint64_t> randomSeeds(std::mt19937_64& rng, std::size_t n) {
  std::vector<uint64_t> s(n);
  for (uint64_t& v : s) v = rng();
  return s;
}

}  // namespace tessera::test
