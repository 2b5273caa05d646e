// The two dispatches that hand one cascade stage's output to the next: the clamp plus noise
// augmentation at the low resolution, and the periodic bilinear upsampling into the next
// network's input, each against a double-precision reference on fresh random inputs.
#include "sampler/cascade_condition.hpp"

#include <cmath>

#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

class CascadeConditionTest : public GpuTest {};

void checkNoise(Shape4 s, float sigma) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " sigma " + std::to_string(sigma));
  std::mt19937_64 rng(seed);
  const std::vector<uint64_t> seeds = randomSeeds(rng, s.n);
  const uint32_t stream = (1u << 16) | 1u;  // stage 1's augmentation stream
  // Values well outside [-1, 1] too, so the clamp is exercised.
  const std::vector<float> x = randomVector(rng, s.count(), -3.0f, 3.0f);
  TensorPool pool(GpuTest::gpu(), 2 * s.count() * 4 + 16384);
  const Tensor tx = pool.make(s, DType::F32), low = pool.make(s, DType::F32);
  pool.upload(tx, x);
  pool.poison(low);
  const BufferRef params = makeParams(pool, {}, itemRows(seeds));
  Program prog(GpuTest::gpu());
  sampler::conditionNoise(prog, GpuTest::kernels(), params, tx, low, sigma, stream);
  runProgram(GpuTest::gpu(), prog);
  const std::vector<float> got = pool.download(low);
  const uint32_t perItem = s.c * s.h * s.w;
  const uint32_t streams[] = {stream};
  const std::vector<float> z = batchNoise(seeds, streams, perItem)[0];
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i)
    want[i] = std::clamp(double(x[i]), -1.0, 1.0) + double(sigma) * z[i];
  expectClose(got, want, DType::F32, "low");
}

TEST_F(CascadeConditionTest, NoiseIsClampPlusSigmaTimesTheSeedsStream) {
  checkNoise({3, 3, 7, 5}, 0.2f);
  checkNoise({2, 4, 5, 9}, 1.5f);
}

TEST_F(CascadeConditionTest, NoiseOfSigmaZeroIsTheClampAlone) { checkNoise({2, 3, 6, 6}, 0.0f); }

// The definition in tools/train/sr.py, pixel by pixel, in double.
std::vector<double> upsampleReference(const std::vector<float>& low, Shape4 s, uint32_t f) {
  const uint32_t oh = s.h * f, ow = s.w * f;
  std::vector<double> out(std::size_t(s.n) * s.c * oh * ow);
  for (uint32_t plane = 0; plane < s.n * s.c; ++plane)
    for (uint32_t y = 0; y < oh; ++y)
      for (uint32_t x = 0; x < ow; ++x) {
        const double sy = (y + 0.5) / f - 0.5, sx = (x + 0.5) / f - 0.5;
        const double fy = std::floor(sy), fx = std::floor(sx);
        const double wy = sy - fy, wx = sx - fx;
        const auto at = [&](double yy, double xx) {
          const int64_t yi = ((int64_t(yy) % s.h) + s.h) % s.h, xi = ((int64_t(xx) % s.w) + s.w) % s.w;
          return double(low[std::size_t(plane) * s.h * s.w + std::size_t(yi) * s.w + std::size_t(xi)]);
        };
        out[(std::size_t(plane) * oh + y) * ow + x] = (1 - wy) * ((1 - wx) * at(fy, fx) + wx * at(fy, fx + 1)) +
                                                      wy * ((1 - wx) * at(fy + 1, fx) + wx * at(fy + 1, fx + 1));
      }
  return out;
}

void checkUpsample(Shape4 s, uint32_t f, uint32_t outChannels, uint32_t offset, DType dt) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " factor " + std::to_string(f) + " " +
               dtypeName(dt));
  std::mt19937_64 rng(seed);
  const std::vector<float> low = randomVector(rng, s.count());
  const Shape4 os{s.n, outChannels, s.h * f, s.w * f};
  TensorPool pool(GpuTest::gpu(), s.count() * 4 + os.count() * 4 + 16384);
  const Tensor tl = pool.make(s, DType::F32), out = pool.make(os, dt);
  pool.upload(tl, low);
  pool.poison(out);
  Program prog(GpuTest::gpu());
  sampler::upsamplePeriodic(prog, GpuTest::kernels(), tl, out, f, offset);
  runProgram(GpuTest::gpu(), prog);
  const std::vector<float> got = pool.download(out);
  const std::vector<double> ref = upsampleReference(low, s, f);
  const std::size_t plane = std::size_t(os.h) * os.w;
  std::vector<float> written;
  for (uint32_t i = 0; i < s.n; ++i)
    for (uint32_t c = 0; c < outChannels; ++c) {
      const float* p = got.data() + (std::size_t(i) * outChannels + c) * plane;
      if (c >= offset && c < offset + s.c) {
        written.insert(written.end(), p, p + plane);
      } else {  // the noisy image's channels are the sampler's: left as they were
        for (std::size_t k = 0; k < plane; ++k) ASSERT_TRUE(std::isnan(p[k])) << "channel " << c << " was written";
      }
    }
  expectClose(written, ref, dt, "upsampled");
}

TEST_F(CascadeConditionTest, UpsampleIsPeriodicBilinearWithHalfPixelCentres) {
  for (DType dt : precisions()) {
    checkUpsample({2, 3, 5, 7}, 4, 6, 3, dt);
    checkUpsample({1, 3, 6, 4}, 2, 6, 3, dt);
    checkUpsample({3, 1, 3, 3}, 3, 1, 0, dt);
  }
}

TEST_F(CascadeConditionTest, UpsampledTileableImageTiles) {
  // On a torus, shifting the input by one low pixel shifts the output by f pixels exactly.
  const Shape4 s{1, 2, 4, 6};
  const uint32_t f = 4;
  std::mt19937_64 rng(freshSeed());
  const std::vector<float> low = randomVector(rng, s.count());
  std::vector<float> shifted(low.size());
  for (uint32_t c = 0; c < s.c; ++c)
    for (uint32_t y = 0; y < s.h; ++y)
      for (uint32_t x = 0; x < s.w; ++x)
        shifted[(c * s.h + y) * s.w + (x + 1) % s.w] = low[(c * s.h + y) * s.w + x];
  const auto run = [&](const std::vector<float>& in) {
    TensorPool pool(gpu(), 1 << 16);
    const Tensor tl = pool.make(s, DType::F32), out = pool.make({1, s.c, s.h * f, s.w * f}, DType::F32);
    pool.upload(tl, in);
    pool.poison(out);
    Program prog(gpu());
    sampler::upsamplePeriodic(prog, kernels(), tl, out, f, 0);
    runProgram(gpu(), prog);
    return pool.download(out);
  };
  const std::vector<float> a = run(low), b = run(shifted);
  const uint32_t oh = s.h * f, ow = s.w * f;
  for (uint32_t c = 0; c < s.c; ++c)
    for (uint32_t y = 0; y < oh; ++y)
      for (uint32_t x = 0; x < ow; ++x)
        ASSERT_NEAR(b[(c * oh + y) * ow + (x + f) % ow], a[(c * oh + y) * ow + x], 1e-6f) << c << " " << y << " " << x;
}

TEST_F(CascadeConditionTest, RefusesMismatchedTensors) {
  TensorPool pool(gpu(), 1 << 16);
  const Tensor low = pool.make({1, 3, 4, 4}, DType::F32), out = pool.make({1, 6, 16, 16}, DType::F32);
  Program prog(gpu());
  expectError([&] { sampler::upsamplePeriodic(prog, kernels(), low, out, 2, 3); }, ErrorCode::InvalidArgument,
              "is not [1,3,4,4] upsampled by 2");
  expectError([&] { sampler::upsamplePeriodic(prog, kernels(), low, out, 4, 4); }, ErrorCode::InvalidArgument,
              "do not fit the 6 of out");
  const uint64_t seeds[] = {1};
  const BufferRef params = makeParams(pool, {}, itemRows(seeds));
  const Tensor x = pool.make({1, 3, 4, 4}, DType::F32), other = pool.make({1, 3, 4, 5}, DType::F32);
  expectError([&] { sampler::conditionNoise(prog, kernels(), params, x, other, 0.1f, 1); }, ErrorCode::InvalidArgument,
              "low is [1,3,4,5]");
  expectError([&] { sampler::conditionNoise(prog, kernels(), params, x, x, -1.0f, 1); }, ErrorCode::InvalidArgument,
              "must be >= 0");
}

}  // namespace
}  // namespace tessera::test
