#include "sampler/image_encode.hpp"

#include <algorithm>
#include <cmath>
#include <glm/gtc/packing.hpp>

#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

class ImageEncodeTest : public GpuTest {};

// Random values, some beyond [-1, 1], plus both ends and x = 0, whose (x + 1) * 127.5 = 127.5 is an
// exact tie (half to even: 128).
std::vector<float> randomImage(std::mt19937_64& rng, std::size_t n) {
  std::vector<float> v = randomVector(rng, n, -1.3f, 1.3f);
  const float specials[] = {-1.0f, 1.0f, 0.0f, -2.0f, 3.0f, 1.0f / 255.0f, -0.5f};
  for (std::size_t i = 0; i < n && i < std::size(specials); ++i) v[i * 7 % n] = specials[i];
  return v;
}

std::vector<uint32_t> runEncode(const std::vector<float>& x, Shape4 s, sampler::PixelFormat format) {
  const uint64_t bytes = sampler::pixelBytes(format, s.n, s.h, s.w);
  vk::HostBuffer out(GpuTest::gpu(), bytes + 64);
  std::memset(out.data(), 0xcd, bytes + 64);
  out.flush();
  TensorPool pool(GpuTest::gpu(), s.count() * 4 + 4096);
  const Tensor tx = pool.make(s, DType::F32);
  pool.upload(tx, x);
  Program prog(GpuTest::gpu());
  sampler::imageEncode(prog, GpuTest::kernels(), tx, out.ref(0, bytes), format);
  runProgram(GpuTest::gpu(), prog);
  out.invalidate();
  std::vector<uint32_t> words(bytes / 4 + 16);
  std::memcpy(words.data(), out.data(), bytes + 64);
  // Nothing past the last pixel is written.
  for (std::size_t i = bytes / 4; i < words.size(); ++i) EXPECT_EQ(words[i], 0xcdcdcdcdu) << "word " << i;
  words.resize(bytes / 4);
  return words;
}

// Which channel of X feeds output channel k (R, G, B, A), or -1 for the constant alpha.
int sourceChannel(uint32_t channels, int k) {
  if (channels <= 2) return k < 3 ? 0 : (channels == 2 ? 1 : -1);
  return k < int(channels) ? k : -1;
}

void checkRgba8(Shape4 s) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str());
  std::mt19937_64 rng(seed);
  const std::vector<float> x = randomImage(rng, s.count());
  const std::vector<uint32_t> got = runEncode(x, s, sampler::PixelFormat::Rgba8);
  const std::size_t plane = std::size_t(s.h) * s.w;
  for (std::size_t px = 0; px < got.size(); ++px) {
    const std::size_t item = px / plane, at = px % plane;
    for (int k = 0; k < 4; ++k) {
      const int c = sourceChannel(s.c, k);
      const uint32_t byte = (got[px] >> (8 * k)) & 255;
      if (c < 0) {
        ASSERT_EQ(byte, 255u) << "pixel " << px << " alpha";
        continue;
      }
      const float v = x[(item * s.c + c) * plane + at];
      // to_u8 in fp32, as PyTorch computes it: clamp, +1, *127.5, round half to even.
      const float scaled = (std::clamp(v, -1.0f, 1.0f) + 1.0f) * 127.5f;
      ASSERT_EQ(byte, uint32_t(std::nearbyint(scaled))) << "pixel " << px << " channel " << k << " x " << v;
      // And within half a step of the exact value.
      ASSERT_LE(std::abs(byte - (std::clamp(double(v), -1.0, 1.0) + 1.0) * 127.5), 0.5 + 1e-4);
    }
  }
}

double srgbToLinear(double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); }

void checkRgba16f(Shape4 s) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str());
  std::mt19937_64 rng(seed);
  const std::vector<float> x = randomImage(rng, s.count());
  const std::vector<uint32_t> got = runEncode(x, s, sampler::PixelFormat::Rgba16F);
  const std::size_t plane = std::size_t(s.h) * s.w;
  for (std::size_t px = 0; px < got.size() / 2; ++px) {
    const std::size_t item = px / plane, at = px % plane;
    for (int k = 0; k < 4; ++k) {
      const int c = sourceChannel(s.c, k);
      const uint16_t half = uint16_t(got[2 * px + k / 2] >> (16 * (k % 2)));
      const double value = glm::unpackHalf1x16(half);
      double want = 1.0;
      if (c >= 0) {
        const double unit = (std::clamp(double(x[(item * s.c + c) * plane + at]), -1.0, 1.0) + 1.0) / 2;
        want = k == 3 ? unit : srgbToLinear(unit);
      }
      // One fp16 step (2^-11 relative, or the subnormal step) plus fp32 pow's error.
      const double bound = std::max(std::abs(want) * std::ldexp(1.0, -10), std::ldexp(1.0, -24)) + 1e-6;
      ASSERT_LE(std::abs(value - want), bound) << "pixel " << px << " channel " << k;
    }
  }
}

TEST_F(ImageEncodeTest, Rgba8MatchesToU8) {
  checkRgba8({2, 3, 7, 5});
  checkRgba8({1, 4, 13, 3});
  checkRgba8({3, 1, 5, 9});
  checkRgba8({1, 2, 3, 3});
}

TEST_F(ImageEncodeTest, Rgba16fIsTheLinearColour) {
  checkRgba16f({2, 3, 7, 5});
  checkRgba16f({1, 4, 13, 3});
  checkRgba16f({3, 1, 5, 9});
  checkRgba16f({1, 2, 3, 3});
}

TEST_F(ImageEncodeTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  vk::HostBuffer out(gpu(), 4096);
  Program prog(gpu());
  const Tensor five = pool.make({1, 5, 4, 4}, DType::F32);
  expectError([&] { sampler::imageEncode(prog, kernels(), five, out.ref(), sampler::PixelFormat::Rgba8); },
              ErrorCode::InvalidArgument, "at most 4 channels");
  const Tensor x = pool.make({2, 3, 8, 8}, DType::F32);
  expectError(
      [&] { sampler::imageEncode(prog, kernels(), x, out.ref(0, 1000), sampler::PixelFormat::Rgba16F); },
      ErrorCode::InvalidArgument, "smaller than the 1024");
  const Tensor half = pool.make({1, 3, 4, 4}, DType::F16);
  expectError([&] { sampler::imageEncode(prog, kernels(), half, out.ref(), sampler::PixelFormat::Rgba8); },
              ErrorCode::InvalidArgument, "must be fp32");
}

}  // namespace
}  // namespace tessera::test
