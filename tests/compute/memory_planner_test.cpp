#include "memory_planner.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <random>

#include "error.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

bool livesIntersect(const TensorLifetime& a, const TensorLifetime& b) {
  return a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
}

// Every property a plan must have, whatever the graph.
void checkPlan(std::span<const TensorLifetime> ts, const MemoryPlan& plan, uint64_t alignment) {
  ASSERT_EQ(plan.offsets.size(), ts.size());
  uint64_t naive = 0, extent = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    naive += alignUp(ts[i].bytes, alignment);
    extent = std::max(extent, plan.offsets[i] + ts[i].bytes);
    ASSERT_EQ(plan.offsets[i] % alignment, 0u) << "tensor " << i;
  }
  for (std::size_t i = 0; i < ts.size(); ++i)
    for (std::size_t j = i + 1; j < ts.size(); ++j) {
      if (!ts[i].bytes || !ts[j].bytes || !livesIntersect(ts[i], ts[j])) continue;
      const bool disjoint = plan.offsets[i] + ts[i].bytes <= plan.offsets[j] ||
                            plan.offsets[j] + ts[j].bytes <= plan.offsets[i];
      ASSERT_TRUE(disjoint) << "tensors " << i << " and " << j << " are alive together and overlap: ["
                            << plan.offsets[i] << ", +" << ts[i].bytes << ") and [" << plan.offsets[j]
                            << ", +" << ts[j].bytes << ")";
    }
  EXPECT_EQ(plan.naive, naive);
  EXPECT_EQ(plan.total, alignUp(extent, alignment));
  EXPECT_LE(plan.total, plan.naive);
  EXPECT_GE(plan.total, peakLiveBytes(ts));
}

std::vector<TensorLifetime> randomGraph(std::mt19937_64& rng) {
  const uint32_t ops = std::uniform_int_distribution<uint32_t>(1, 300)(rng);
  const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 250)(rng);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<TensorLifetime> ts(n);
  for (TensorLifetime& t : ts) {
    // Log-uniform sizes from 1 byte to 4 MiB, a few empty tensors; mostly short lifetimes with
    // some that span much of the graph (skip connections).
    t.bytes = unit(rng) < 0.03 ? 0 : static_cast<uint64_t>(std::exp2(unit(rng) * 22));
    t.firstUse = std::uniform_int_distribution<uint32_t>(0, ops - 1)(rng);
    const uint32_t span = unit(rng) < 0.8 ? std::uniform_int_distribution<uint32_t>(0, 3)(rng)
                                          : std::uniform_int_distribution<uint32_t>(0, ops)(rng);
    t.lastUse = std::min(ops - 1, t.firstUse + span);
  }
  return ts;
}

TEST(MemoryPlannerTest, RandomGraphsNeverOverlapLiveTensorsAndStayAligned) {
  const uint64_t seed = freshSeed();
  std::printf("memory planner: random graphs from seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  double ratioSum = 0;
  int graphs = 0;
  for (uint64_t alignment : {4, 16, 64, 256})
    for (int g = 0; g < 60; ++g) {
      const uint64_t graphSeed = rng();
      SCOPED_TRACE("seed " + std::to_string(seed) + " graph seed " + std::to_string(graphSeed) +
                   " alignment " + std::to_string(alignment));
      std::mt19937_64 graphRng(graphSeed);
      const auto ts = randomGraph(graphRng);
      const MemoryPlan plan = planMemory(ts, alignment);
      checkPlan(ts, plan, alignment);
      if (HasFatalFailure()) return;
      ratioSum += double(plan.total) / double(std::max<uint64_t>(plan.naive, 1));
      ++graphs;
    }
  std::printf("memory planner: mean planned/naive over %d random graphs: %.3f\n", graphs, ratioSum / graphs);
}

TEST(MemoryPlannerTest, IsDeterministic) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int g = 0; g < 20; ++g) {
    const auto ts = randomGraph(rng);
    const MemoryPlan a = planMemory(ts, 64), b = planMemory(ts, 64);
    EXPECT_EQ(a.offsets, b.offsets);
    EXPECT_EQ(a.total, b.total);
  }
}

TEST(MemoryPlannerTest, PacksEverythingWhenAllLifetimesIntersect) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (uint64_t alignment : {4, 16, 64, 256}) {
    // Every lifetime contains op 10, so every pair is alive together.
    std::vector<TensorLifetime> ts(std::uniform_int_distribution<int>(1, 80)(rng));
    for (TensorLifetime& t : ts) {
      t.bytes = std::uniform_int_distribution<uint64_t>(1, 100000)(rng);
      t.firstUse = std::uniform_int_distribution<uint32_t>(0, 10)(rng);
      t.lastUse = std::uniform_int_distribution<uint32_t>(10, 20)(rng);
    }
    const MemoryPlan plan = planMemory(ts, alignment);
    checkPlan(ts, plan, alignment);
    EXPECT_EQ(plan.total, plan.naive) << "alignment " << alignment;
  }
}

TEST(MemoryPlannerTest, ChainReusesMemory) {
  // op i reads tensor i and writes tensor i+1: only two tensors are ever alive together.
  std::vector<TensorLifetime> ts(32);
  for (uint32_t i = 0; i < ts.size(); ++i) ts[i] = {1 << 20, i, i + 1};
  MemoryPlan plan = planMemory(ts, 256);
  checkPlan(ts, plan, 256);
  EXPECT_EQ(plan.total, 2u << 20);
  EXPECT_EQ(plan.naive, 32u << 20);
  std::printf("memory planner: chain of 32 x 1 MiB: planned %llu bytes, naive %llu bytes\n",
              static_cast<unsigned long long>(plan.total), static_cast<unsigned long long>(plan.naive));

  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ts.resize(64);
  for (uint32_t i = 0; i < ts.size(); ++i)
    ts[i] = {std::uniform_int_distribution<uint64_t>(1 << 19, 1 << 20)(rng), i, i + 1};
  plan = planMemory(ts, 64);
  checkPlan(ts, plan, 64);
  EXPECT_LT(plan.total * 8, plan.naive);
  std::printf("memory planner: chain of 64 random 0.5-1 MiB: planned %llu, lower bound %llu, naive %llu\n",
              static_cast<unsigned long long>(plan.total), static_cast<unsigned long long>(peakLiveBytes(ts)),
              static_cast<unsigned long long>(plan.naive));
}

// Lifetimes shaped like a small U-Net's activations (fp32, batch 1, 64x64, channels 64/128/256):
// each level makes a block output that waits for the decoder (a skip connection), and
// intermediates that die one or two ops later.
std::vector<TensorLifetime> unetLike() {
  std::vector<TensorLifetime> ts;
  uint32_t op = 0;
  const uint32_t channels[] = {64, 128, 256};
  std::vector<std::size_t> skips;
  auto bytes = [](uint32_t c, uint32_t res) { return uint64_t(c) * res * res * 4; };
  for (int level = 0; level < 3; ++level) {
    const uint32_t c = channels[level], res = 64u >> level;
    for (int k = 0; k < 3; ++k, ++op) ts.push_back({bytes(c, res), op, op + 2});  // norm, conv, conv
    ts.push_back({bytes(c, res), op, op});  // block output, its lifetime closed at the mirror level
    skips.push_back(ts.size() - 1);
    ++op;
  }
  for (int level = 2; level >= 0; --level) {
    const uint32_t c = channels[level], res = 64u >> level;
    ts[skips[level]].lastUse = op;  // concatenated here
    for (int k = 0; k < 4; ++k, ++op) ts.push_back({bytes(2 * c, res), op, op + 2});
  }
  return ts;
}

TEST(MemoryPlannerTest, UnetShapedGraphNeedsFarLessThanNaive) {
  const auto ts = unetLike();
  const MemoryPlan plan = planMemory(ts, 256);
  checkPlan(ts, plan, 256);
  EXPECT_LT(plan.total * 2, plan.naive);
  std::printf("memory planner: U-Net-shaped graph, %zu tensors: planned %llu, lower bound %llu, naive %llu\n",
              ts.size(), static_cast<unsigned long long>(plan.total),
              static_cast<unsigned long long>(peakLiveBytes(ts)),
              static_cast<unsigned long long>(plan.naive));
}

TEST(MemoryPlannerTest, EmptyGraphNeedsNothing) {
  const MemoryPlan plan = planMemory({}, 16);
  EXPECT_EQ(plan.total, 0u);
  EXPECT_EQ(plan.naive, 0u);
}

TEST(MemoryPlannerTest, RefusesBadInput) {
  const std::vector<TensorLifetime> backwards{{64, 0, 3}, {64, 5, 2}};
  expectError([&] { planMemory(backwards, 16); }, ErrorCode::InvalidArgument,
              "tensor 1 is last used at op 2, before its first use at op 5");
  const std::vector<TensorLifetime> ok{{64, 0, 1}};
  expectError([&] { planMemory(ok, 48); }, ErrorCode::InvalidArgument, "alignment 48 is not a power of two");
  expectError([&] { planMemory(ok, 0); }, ErrorCode::InvalidArgument, "not a power of two");
  const std::vector<TensorLifetime> huge{{UINT64_MAX / 2, 0, 1}, {UINT64_MAX / 2, 0, 1}, {4096, 0, 1}};
  expectError([&] { planMemory(huge, 16); }, ErrorCode::InvalidArgument, "overflows");
}

}  // namespace
}  // namespace tessera::test
