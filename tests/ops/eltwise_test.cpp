#include "ops/eltwise.hpp"

#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class EltwiseTest : public GpuTest {};

enum class Kind { Add, Mul, Axpby };

void check(DType t, Shape4 s, Kind kind) {
  const vk::Gpu& gpu = GpuTest::gpu();
  vk::KernelCache& kernels = GpuTest::kernels();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " " + dtypeName(t));
  std::mt19937_64 rng(seed);
  const auto a = roundTo(t, randomVector(rng, s.count()));
  const auto b = roundTo(t, randomVector(rng, s.count()));
  const float alpha = std::uniform_real_distribution<float>(-2, 2)(rng);
  const float beta = std::uniform_real_distribution<float>(-2, 2)(rng);

  TensorPool pool(gpu, 3 * s.count() * 4 + 4096);
  Tensor ta = pool.make(s, t), tb = pool.make(s, t), to = pool.make(s, t);
  pool.upload(ta, a);
  pool.upload(tb, b);
  pool.poison(to);
  Program prog(gpu);
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i) {
    switch (kind) {
      case Kind::Add: want[i] = double(a[i]) + b[i]; break;
      case Kind::Mul: want[i] = double(alpha) * a[i] * b[i]; break;
      case Kind::Axpby: want[i] = double(alpha) * a[i] + double(beta) * b[i]; break;
    }
  }
  if (kind == Kind::Add) ops::add(prog, kernels, ta, tb, to);
  if (kind == Kind::Mul) ops::mul(prog, kernels, ta, tb, to, alpha);
  if (kind == Kind::Axpby) ops::axpby(prog, kernels, ta, tb, to, alpha, beta);
  runProgram(gpu, prog);
  expectClose(pool.download(to), want, t, "eltwise");
}

TEST_F(EltwiseTest, AddMatchesReference) {
  for (DType t : precisions()) check(t, {2, 13, 7, 5}, Kind::Add);
}

TEST_F(EltwiseTest, MulMatchesReference) {
  for (DType t : precisions()) check(t, {1, 3, 17, 9}, Kind::Mul);
}

TEST_F(EltwiseTest, AxpbyMatchesReferenceBeyondOneGridPass) {
  // More elements than one pass of 65535 workgroups of 256 covers exercises the stride loop.
  for (DType t : precisions()) check(t, {1, 3, 4200, 1400}, Kind::Axpby);
}

TEST_F(EltwiseTest, RefusesMismatchedShapes) {
  TensorPool pool(gpu(), 1 << 16);
  Tensor a = pool.make({1, 3, 4, 4}, DType::F32), b = pool.make({1, 3, 4, 5}, DType::F32);
  Program prog(gpu());
  expectError([&] { ops::add(prog, kernels(), a, b, a); }, ErrorCode::InvalidArgument, "shapes differ");
}

}  // namespace
}  // namespace tessera::test
