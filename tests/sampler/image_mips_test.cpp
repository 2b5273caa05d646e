// The mip chain op against a double-precision reference: random level-0 pixels, a poisoned chain
// buffer, every level checked from the level above as the GPU wrote it (so each level's filter is
// judged alone), odd and one-texel axes included, and nothing written outside the levels.
#include "sampler/image_mips.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <glm/gtc/packing.hpp>

#include "sampler_test_util.hpp"

namespace tessera::test {
namespace {

class ImageMipsTest : public GpuTest {};

using sampler::PixelFormat;

double srgbToLinear(double v) { return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4); }
double linearToSrgb(double v) { return v <= 0.0031308 ? v * 12.92 : 1.055 * std::pow(v, 1 / 2.4) - 0.055; }

// The box filter's taps along one axis, in double: a destination texel covers
// [d * n / dn, (d + 1) * n / dn) of the n source texels.
std::vector<std::pair<uint32_t, double>> footprint(uint32_t d, uint32_t n, uint32_t dn) {
  std::vector<std::pair<uint32_t, double>> taps;
  const double lo = double(d) * n / dn, hi = double(d + 1) * n / dn;
  for (uint32_t s = uint32_t(std::floor(lo)); s < n && s < hi; ++s) {
    const double cover = std::min<double>(hi, s + 1) - std::max<double>(lo, s);
    if (cover > 1e-12) taps.push_back({s, cover / (hi - lo)});
  }
  return taps;
}

// Level `dw` x `dh` of n images from the level above, in linear light, per channel.
std::vector<double> reference(const std::vector<std::array<double, 4>>& above, uint32_t n, uint32_t sw, uint32_t sh,
                              uint32_t dw, uint32_t dh, int channel) {
  std::vector<double> out(std::size_t(n) * dw * dh);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t y = 0; y < dh; ++y)
      for (uint32_t x = 0; x < dw; ++x) {
        double sum = 0;
        for (auto [sy, wy] : footprint(y, sh, dh))
          for (auto [sx, wx] : footprint(x, sw, dw))
            sum += wy * wx * above[(std::size_t(i) * sh + sy) * sw + sx][channel];
        out[(std::size_t(i) * dh + y) * dw + x] = sum;
      }
  return out;
}

struct Chain {
  std::vector<std::vector<uint32_t>> levels;  // words of each level, level 0 the input
};

constexpr uint32_t kPoison = 0xcdcdcdcdu;

Chain runMips(const std::vector<uint32_t>& level0, PixelFormat format, uint32_t n, uint32_t h, uint32_t w,
              uint32_t levels) {
  const vk::Gpu& gpu = GpuTest::gpu();
  const uint64_t align = gpu.facts.minStorageBufferOffsetAlignment;
  const uint64_t top = sampler::pixelBytes(format, n, h, w);
  const uint64_t chainBytes = sampler::mipChainBytes(format, n, h, w, align);
  vk::HostBuffer pixels(gpu, top);
  std::memcpy(pixels.data(), level0.data(), top);
  pixels.flush();
  vk::HostBuffer chain(gpu, chainBytes + 64);
  std::memset(chain.data(), 0xcd, chainBytes + 64);
  chain.flush();
  Program prog(gpu);
  sampler::imageMips(prog, GpuTest::kernels(), pixels.ref(0, top), chain.ref(0, chainBytes + 64), format, n, h, w,
                     levels, align);
  EXPECT_EQ(prog.size(), levels - 1);
  runProgram(gpu, prog);
  chain.invalidate();
  std::vector<uint32_t> words((chainBytes + 64) / 4);
  std::memcpy(words.data(), chain.data(), words.size() * 4);
  Chain c;
  c.levels.push_back(level0);
  std::vector<bool> written(words.size());
  for (uint32_t l = 1; l < levels; ++l) {
    const uint64_t at = sampler::mipLevelOffset(format, n, h, w, l, align);
    const uint64_t bytes = sampler::pixelBytes(format, n, sampler::mipExtent(h, l), sampler::mipExtent(w, l));
    EXPECT_EQ(at % 16, 0u) << "level " << l << " offset";
    c.levels.emplace_back(words.begin() + long(at / 4), words.begin() + long((at + bytes) / 4));
    std::fill(written.begin() + long(at / 4), written.begin() + long((at + bytes) / 4), true);
  }
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (!written[i]) {
      EXPECT_EQ(words[i], kPoison) << "word " << i << " lies outside every level";
    }
  }
  return c;
}

std::vector<std::array<double, 4>> decodeRgba8(const std::vector<uint32_t>& words) {
  std::vector<std::array<double, 4>> v(words.size());
  for (std::size_t i = 0; i < words.size(); ++i)
    for (int c = 0; c < 4; ++c) {
      const double b = ((words[i] >> (8 * c)) & 255) / 255.0;
      v[i][c] = c == 3 ? b : srgbToLinear(b);
    }
  return v;
}

std::vector<std::array<double, 4>> decodeRgba16f(const std::vector<uint32_t>& words) {
  std::vector<std::array<double, 4>> v(words.size() / 2);
  for (std::size_t i = 0; i < v.size(); ++i)
    for (int c = 0; c < 4; ++c) v[i][c] = glm::unpackHalf1x16(uint16_t(words[2 * i + c / 2] >> (16 * (c % 2))));
  return v;
}

void checkRgba8(uint32_t n, uint32_t h, uint32_t w) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " " + std::to_string(n) + " x " + std::to_string(w) + "x" +
               std::to_string(h));
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> level0(std::size_t(n) * h * w);
  for (uint32_t& v : level0) v = uint32_t(rng());
  const uint32_t levels = sampler::mipLevelCount(w, h);
  const Chain c = runMips(level0, PixelFormat::Rgba8, n, h, w, levels);
  for (uint32_t l = 1; l < levels; ++l) {
    SCOPED_TRACE("level " + std::to_string(l));
    const uint32_t sw = sampler::mipExtent(w, l - 1), sh = sampler::mipExtent(h, l - 1);
    const uint32_t dw = sampler::mipExtent(w, l), dh = sampler::mipExtent(h, l);
    const auto above = decodeRgba8(c.levels[l - 1]);
    for (int ch = 0; ch < 4; ++ch) {
      const std::vector<double> want = reference(above, n, sw, sh, dw, dh, ch);
      for (std::size_t i = 0; i < want.size(); ++i) {
        const double exact = (ch == 3 ? want[i] : linearToSrgb(want[i])) * 255.0;
        const int got = int((c.levels[l][i] >> (8 * ch)) & 255);
        // The nearest byte; either neighbour only where fp32 cannot tell which side of a half
        // step the value lies.
        const double frac = exact - std::floor(exact);
        const bool nearTie = std::abs(frac - 0.5) < 2e-3;
        if (nearTie) {
          ASSERT_LE(std::abs(got - exact), 0.5 + 2e-3) << "pixel " << i << " channel " << ch;
        } else {
          ASSERT_EQ(got, int(std::lround(exact))) << "pixel " << i << " channel " << ch << " exact " << exact;
        }
      }
    }
  }
}

void checkRgba16f(uint32_t n, uint32_t h, uint32_t w) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " " + std::to_string(n) + " x " + std::to_string(w) + "x" +
               std::to_string(h));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> colour(0.0f, 4.0f);  // linear light, HDR values too
  std::vector<uint32_t> level0(std::size_t(n) * h * w * 2);
  for (uint32_t& v : level0) v = glm::packHalf1x16(colour(rng)) | (uint32_t(glm::packHalf1x16(colour(rng))) << 16);
  const uint32_t levels = sampler::mipLevelCount(w, h);
  const Chain c = runMips(level0, PixelFormat::Rgba16F, n, h, w, levels);
  for (uint32_t l = 1; l < levels; ++l) {
    SCOPED_TRACE("level " + std::to_string(l));
    const uint32_t sw = sampler::mipExtent(w, l - 1), sh = sampler::mipExtent(h, l - 1);
    const uint32_t dw = sampler::mipExtent(w, l), dh = sampler::mipExtent(h, l);
    const auto above = decodeRgba16f(c.levels[l - 1]);
    const auto got = decodeRgba16f(c.levels[l]);
    for (int ch = 0; ch < 4; ++ch) {
      const std::vector<double> want = reference(above, n, sw, sh, dw, dh, ch);
      for (std::size_t i = 0; i < want.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i][ch])) << "pixel " << i;
        // fp16 rounding (half an ulp, 2^-11 relative) plus fp32 accumulation.
        ASSERT_LE(std::abs(got[i][ch] - want[i]), std::abs(want[i]) * (std::ldexp(1.0, -11) + 1e-6) + 1e-7)
            << "pixel " << i << " channel " << ch;
      }
    }
  }
}

TEST_F(ImageMipsTest, Rgba8EveryLevelIsTheLinearLightBoxOfTheOneAbove) {
  checkRgba8(2, 16, 16);
  checkRgba8(1, 32, 8);   // 1-texel rows at the end: only the other axis halves
  checkRgba8(3, 12, 20);  // 20x12 -> 10x6 -> 5x3 -> 2x1: odd axes take three weighted taps
  checkRgba8(1, 7, 1);
}

TEST_F(ImageMipsTest, Rgba16fEveryLevelIsTheBoxOfTheOneAbove) {
  checkRgba16f(2, 16, 16);
  checkRgba16f(1, 5, 24);
  checkRgba16f(2, 9, 9);
}

// The choice docs/API.md states for RGBA8 (_SRGB and _UNORM alike): a black-and-white checker
// averages to half the light, sRGB byte 188, not to the byte mean 128.
TEST_F(ImageMipsTest, Rgba8AveragesLightNotBytes) {
  std::vector<uint32_t> checker(4 * 4);
  for (uint32_t i = 0; i < checker.size(); ++i) checker[i] = ((i % 4 + i / 4) % 2) ? 0xffffffffu : 0xff000000u;
  const Chain c = runMips(checker, PixelFormat::Rgba8, 1, 4, 4, 3);
  for (uint32_t l = 1; l < 3; ++l)
    for (uint32_t v : c.levels[l]) EXPECT_EQ(v, 0xffbcbcbcu) << "level " << l;
}

TEST_F(ImageMipsTest, ChainsOfSmallerShapesFitTheLargest) {
  const uint64_t align = gpu().facts.minStorageBufferOffsetAlignment;
  for (PixelFormat f : {PixelFormat::Rgba8, PixelFormat::Rgba16F}) {
    const uint64_t most = sampler::mipChainBytes(f, 4, 64, 48, align);
    for (uint32_t n = 1; n <= 4; ++n)
      for (uint32_t h = 4; h <= 64; h += 4)
        for (uint32_t w = 4; w <= 48; w += 4) ASSERT_LE(sampler::mipChainBytes(f, n, h, w, align), most);
  }
  EXPECT_EQ(sampler::mipLevelCount(64, 64), 7u);
  EXPECT_EQ(sampler::mipLevelCount(64, 4), 7u);
  EXPECT_EQ(sampler::mipLevelCount(1, 1), 1u);
}

TEST_F(ImageMipsTest, RefusesBadInputs) {
  vk::HostBuffer buf(gpu(), 1 << 16);
  Program prog(gpu());
  const uint64_t align = gpu().facts.minStorageBufferOffsetAlignment;
  expectError([&] { sampler::imageMips(prog, kernels(), buf.ref(), buf.ref(), PixelFormat::Rgba8, 1, 8, 8, 5, align); },
              ErrorCode::InvalidArgument, "outside [1, 4]");
  expectError(
      [&] { sampler::imageMips(prog, kernels(), buf.ref(0, 100), buf.ref(), PixelFormat::Rgba8, 1, 8, 8, 2, align); },
      ErrorCode::InvalidArgument, "smaller than level 0's 256");
  expectError(
      [&] { sampler::imageMips(prog, kernels(), buf.ref(), buf.ref(0, 32), PixelFormat::Rgba16F, 1, 8, 8, 3, align); },
      ErrorCode::InvalidArgument, "levels need");
  EXPECT_EQ(prog.size(), 0u);
}

}  // namespace
}  // namespace tessera::test
