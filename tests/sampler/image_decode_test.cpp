#include "sampler/image_decode.hpp"

#include "sampler_test_util.hpp"
#include "vk/buffer.hpp"

namespace tessera::test {
namespace {

class ImageDecodeTest : public GpuTest {};

std::vector<uint32_t> randomWords(std::mt19937_64& rng, std::size_t n) {
  std::vector<uint32_t> w(n);
  for (uint32_t& v : w) v = uint32_t(rng());
  return w;
}

// Uploads words into a host buffer; returns the buffer (kept alive by the caller).
std::unique_ptr<vk::HostBuffer> uploadWords(const std::vector<uint32_t>& words) {
  auto buf = std::make_unique<vk::HostBuffer>(GpuTest::gpu(), words.size() * 4 + 64);
  std::memcpy(buf->data(), words.data(), words.size() * 4);
  buf->flush();
  return buf;
}

// The source pixel (x, y) of image `item` in an image f times the tensor's size each way.
std::size_t sourcePixel(const Shape4& s, uint32_t f, std::size_t item, std::size_t y, std::size_t x) {
  return (item * s.h * f + y) * s.w * f + x;
}

void checkImage(Shape4 s, uint32_t f = 1) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " factor " + std::to_string(f));
  std::mt19937_64 rng(seed);
  const std::size_t plane = std::size_t(s.h) * s.w;
  std::vector<uint32_t> pixels = randomWords(rng, s.n * plane * f * f);
  pixels[0] = 0x00ff7f80;  // bytes 128, 127, 255, 0: both ends and the middle
  const auto buf = uploadWords(pixels);
  TensorPool pool(GpuTest::gpu(), s.count() * 4 + 4096);
  const Tensor init = pool.make(s, DType::F32);
  pool.poison(init);
  Program prog(GpuTest::gpu());
  sampler::imageDecode(prog, GpuTest::kernels(), buf->ref(0, pixels.size() * 4), init, f);
  runProgram(GpuTest::gpu(), prog);
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::size_t item = i / (s.c * plane), c = (i / plane) % s.c, y = i % plane / s.w, x = i % s.w;
    double sum = 0;  // the mean of the block's unit-range values
    for (uint32_t dy = 0; dy < f; ++dy)
      for (uint32_t dx = 0; dx < f; ++dx)
        sum += double((pixels[sourcePixel(s, f, item, y * f + dy, x * f + dx)] >> (8 * c)) & 255) / 127.5 - 1.0;
    want[i] = sum / (f * f);
  }
  expectClose(pool.download(init), want, DType::F32, "init");
}

TEST_F(ImageDecodeTest, RgbaPixelsBecomeUnitRangeChannels) {
  checkImage({2, 3, 7, 5});
  checkImage({1, 4, 13, 3});
  checkImage({3, 1, 5, 9});
}

TEST_F(ImageDecodeTest, AFactorAveragesEachBlockOfALargerImage) {
  checkImage({2, 3, 7, 5}, 2);
  checkImage({1, 4, 3, 6}, 4);
  checkImage({3, 3, 4, 4}, 3);
}

void checkMask(Shape4 s, uint32_t f) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str() + " factor " + std::to_string(f));
  std::mt19937_64 rng(seed);
  const std::size_t sourceCount = s.count() * f * f;
  std::vector<uint32_t> words = randomWords(rng, (sourceCount + 3) / 4);
  words[0] = 0x80ff7f00;  // 0 (keep), 127, 255 (generate), 128
  if (f > 1)  // the first block all kept, the second all generated
    for (uint32_t dy = 0; dy < f; ++dy)
      for (uint32_t dx = 0; dx < 2 * f; ++dx) {
        const std::size_t j = sourcePixel(s, f, 0, dy, dx);
        words[j / 4] = (words[j / 4] & ~(255u << (8 * (j % 4)))) | (dx < f ? 0u : 255u << (8 * (j % 4)));
      }
  const auto buf = uploadWords(words);
  TensorPool pool(GpuTest::gpu(), s.count() * 4 + 4096);
  const Tensor mask = pool.make(s, DType::F32);
  pool.poison(mask);
  Program prog(GpuTest::gpu());
  sampler::maskDecode(prog, GpuTest::kernels(), buf->ref(0, words.size() * 4), mask, f);
  runProgram(GpuTest::gpu(), prog);
  std::vector<double> want(s.count());
  const std::size_t plane = std::size_t(s.h) * s.w;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::size_t item = i / plane, y = i % plane / s.w, x = i % s.w;
    double sum = 0;
    for (uint32_t dy = 0; dy < f; ++dy)
      for (uint32_t dx = 0; dx < f; ++dx) {
        const std::size_t j = sourcePixel(s, f, item, y * f + dy, x * f + dx);
        sum += 1.0 - double((words[j / 4] >> (8 * (j % 4))) & 255) / 255.0;
      }
    want[i] = sum / (f * f);
  }
  const std::vector<float> got = pool.download(mask);
  expectClose(got, want, DType::F32, "mask");
  EXPECT_EQ(got[0], 1.0f);              // fully kept
  EXPECT_EQ(got[f > 1 ? 1 : 2], 0.0f);  // fully generated
}

TEST_F(ImageDecodeTest, MaskBytesBecomeKeepWeights) {
  checkMask({3, 1, 7, 5}, 1);  // 105 pixels: not a whole number of words
  checkMask({2, 1, 3, 5}, 2);
  checkMask({1, 1, 4, 3}, 4);
}

TEST_F(ImageDecodeTest, RefusesBadInputs) {
  TensorPool pool(gpu(), 1 << 16);
  const auto buf = uploadWords(std::vector<uint32_t>(64));
  Program prog(gpu());
  const Tensor fiveChannels = pool.make({1, 5, 4, 4}, DType::F32);
  expectError([&] { sampler::imageDecode(prog, kernels(), buf->ref(0, 64), fiveChannels); },
              ErrorCode::InvalidArgument, "4 channels");
  const Tensor big = pool.make({2, 3, 4, 4}, DType::F32);
  expectError([&] { sampler::imageDecode(prog, kernels(), buf->ref(0, 64), big); },
              ErrorCode::InvalidArgument, "holds fewer than the 32 RGBA8 pixels");
  const Tensor rgbMask = pool.make({1, 3, 4, 4}, DType::F32);
  expectError([&] { sampler::maskDecode(prog, kernels(), buf->ref(0, 64), rgbMask); },
              ErrorCode::InvalidArgument, "one channel");
  const Tensor small = pool.make({1, 3, 2, 2}, DType::F32);  // 16 pixels at factor 1, 64 at factor 4
  expectError([&] { sampler::imageDecode(prog, kernels(), buf->ref(0, 64), small, 4); },
              ErrorCode::InvalidArgument, "holds fewer than the 64 RGBA8 pixels");
  expectError([&] { sampler::imageDecode(prog, kernels(), buf->ref(0, 64), small, 0); },
              ErrorCode::InvalidArgument, "factor 0");
  const Tensor mask = pool.make({1, 1, 4, 4}, DType::F32);
  expectError([&] { sampler::maskDecode(prog, kernels(), buf->ref(0, 32), mask, 3); },
              ErrorCode::InvalidArgument, "144 pixels");
}

}  // namespace
}  // namespace tessera::test
