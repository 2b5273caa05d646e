// The sample applications' PNG reading and writing: what is written reads back bit for bit at
// every channel count, conversions between channel counts follow stb's rules, and files that are
// not images are refused with a message naming the file.
#include "png_io.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "op_harness.hpp"

namespace tessera::app {
namespace {

namespace fs = std::filesystem;

class PngIo : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = test::freshSeed();
    rng_.seed(seed_);
    dir_ = fs::temp_directory_path() / ("tessera_png_io_" + std::to_string(seed_));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Image randomImage(uint32_t w, uint32_t h, uint32_t c) {
    Image img(w, h, c);
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& p : img.pixels) p = uint8_t(byte(rng_));
    return img;
  }
  void writeBytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  fs::path dir_;
};

TEST_F(PngIo, RoundTripsEveryChannelCountAtOddSizes) {
  SCOPED_TRACE("seed " + std::to_string(seed_));
  for (uint32_t c = 1; c <= 4; ++c)
    for (auto [w, h] : {std::pair{1u, 1u}, {13u, 7u}, {3u, 65u}}) {
      const Image img = randomImage(w, h, c);
      const fs::path p = dir_ / ("rt_" + std::to_string(c) + "_" + std::to_string(w) + ".png");
      writePng(p, img);
      const Image back = readImage(p, c);
      EXPECT_EQ(back.width, w);
      EXPECT_EQ(back.height, h);
      EXPECT_EQ(back.channels, c);
      EXPECT_EQ(back.pixels, img.pixels) << c << " channels, " << w << "x" << h;
    }
  EXPECT_FALSE(fs::exists(dir_ / "rt_4_13.png.partial")) << "the temporary file is left behind";
}

TEST_F(PngIo, ConvertsChannelCountsOnRead) {
  const Image grey = randomImage(5, 3, 1);
  writePng(dir_ / "grey.png", grey);
  const Image rgba = readImage(dir_ / "grey.png", 4);
  for (std::size_t i = 0; i < grey.pixels.size(); ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(rgba.pixels[i * 4 + c], grey.pixels[i]);
    EXPECT_EQ(rgba.pixels[i * 4 + 3], 255) << "a picture without alpha reads as opaque";
  }
  // Pure primaries, whose luminance stb computes as (77 r + 150 g + 29 b) >> 8.
  Image rgb(3, 1, 3);
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  writePng(dir_ / "rgb.png", rgb);
  const Image lum = readImage(dir_ / "rgb.png", 1);
  EXPECT_EQ(lum.pixels, (std::vector<uint8_t>{76, 149, 28}));
}

TEST_F(PngIo, RefusesWhatIsNotAnImageNamingTheFile) {
  const auto expectRefused = [](const fs::path& p, const std::string& why) {
    try {
      (void)readImage(p, 4);
      ADD_FAILURE() << p << " was read";
    } catch (const ImageError& e) {
      EXPECT_NE(std::string(e.what()).find(p.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  };
  expectRefused(dir_ / "missing.png", "no such file");
  writeBytes(dir_ / "empty.png", "");
  expectRefused(dir_ / "empty.png", "empty");
  writeBytes(dir_ / "text.png", "this is not a picture at all");
  expectRefused(dir_ / "text.png", "cannot read image");
  // A real PNG cut short: the header promises data that is not there.
  const std::vector<uint8_t> png = encodePng(randomImage(16, 16, 3));
  writeBytes(dir_ / "cut.png", std::string(png.begin(), png.begin() + std::ptrdiff_t(png.size() / 2)));
  expectRefused(dir_ / "cut.png", "cannot read image");
}

TEST_F(PngIo, RefusesToWriteImpossibleImages) {
  EXPECT_THROW(writePng(dir_ / "zero.png", Image(0, 4, 3)), ImageError);
  Image wrong(4, 4, 3);
  wrong.pixels.resize(5);
  EXPECT_THROW(writePng(dir_ / "wrong.png", wrong), ImageError);
  EXPECT_THROW(writePng(dir_ / "no_such_dir" / "x.png", randomImage(2, 2, 3)), ImageError);
  EXPECT_THROW((void)readImage(dir_ / "x.png", 5), ImageError);
}

}  // namespace
}  // namespace tessera::app
