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

void checkImage(Shape4 s) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " shape " + s.str());
  std::mt19937_64 rng(seed);
  const std::size_t plane = std::size_t(s.h) * s.w;
  std::vector<uint32_t> pixels = randomWords(rng, s.n * plane);
  pixels[0] = 0x00ff7f80;  // bytes 128, 127, 255, 0: both ends and the middle
  const auto buf = uploadWords(pixels);
  TensorPool pool(GpuTest::gpu(), s.count() * 4 + 4096);
  const Tensor init = pool.make(s, DType::F32);
  pool.poison(init);
  Program prog(GpuTest::gpu());
  sampler::imageDecode(prog, GpuTest::kernels(), buf->ref(0, pixels.size() * 4), init);
  runProgram(GpuTest::gpu(), prog);
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::size_t item = i / (s.c * plane), c = (i / plane) % s.c, pixel = item * plane + i % plane;
    want[i] = double((pixels[pixel] >> (8 * c)) & 255) / 127.5 - 1.0;
  }
  expectClose(pool.download(init), want, DType::F32, "init");
}

TEST_F(ImageDecodeTest, RgbaPixelsBecomeUnitRangeChannels) {
  checkImage({2, 3, 7, 5});
  checkImage({1, 4, 13, 3});
  checkImage({3, 1, 5, 9});
}

TEST_F(ImageDecodeTest, MaskBytesBecomeKeepWeights) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Shape4 s{3, 1, 7, 5};  // 105 pixels: not a whole number of words
  std::vector<uint32_t> words = randomWords(rng, (s.count() + 3) / 4);
  words[0] = 0x80ff7f00;  // 0 (keep), 127, 255 (generate), 128
  const auto buf = uploadWords(words);
  TensorPool pool(gpu(), s.count() * 4 + 4096);
  const Tensor mask = pool.make(s, DType::F32);
  pool.poison(mask);
  Program prog(gpu());
  sampler::maskDecode(prog, kernels(), buf->ref(0, words.size() * 4), mask);
  runProgram(gpu(), prog);
  std::vector<double> want(s.count());
  for (std::size_t i = 0; i < want.size(); ++i)
    want[i] = 1.0 - double((words[i / 4] >> (8 * (i % 4))) & 255) / 255.0;
  const std::vector<float> got = pool.download(mask);
  expectClose(got, want, DType::F32, "mask");
  EXPECT_EQ(got[0], 1.0f);  // fully kept
  EXPECT_EQ(got[2], 0.0f);  // fully generated
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
}

}  // namespace
}  // namespace tessera::test
