#pragma once
// PNG files for the sample applications: read any image stb_image understands (PNG, and JPEG/BMP/TGA
// as a convenience) into 8-bit pixels, write 8-bit PNG. Errors throw ImageError naming the file.
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessera::app {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 8-bit pixels, rows tightly packed, `channels` interleaved (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
struct Image {
  uint32_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(uint32_t w, uint32_t h, uint32_t c)
      : width(w), height(h), channels(c), pixels(std::size_t(w) * h * c) {}
  uint8_t* at(uint32_t x, uint32_t y) { return pixels.data() + (std::size_t(y) * width + x) * channels; }
  const uint8_t* at(uint32_t x, uint32_t y) const {
    return pixels.data() + (std::size_t(y) * width + x) * channels;
  }
};

// Reads `path`, converted to `channels` (1..4) whatever the file holds: a grey mask comes out as
// RGBA with equal colour channels, an RGB picture as grey by its luminance.
Image readImage(const std::filesystem::path& path, uint32_t channels);
// Decodes an image held in memory; `name` only labels the error message.
Image decodeImage(const std::vector<uint8_t>& bytes, uint32_t channels, const std::string& name);

// Writes `image` as a PNG (creating no directories). The file is replaced whole or not at all.
void writePng(const std::filesystem::path& path, const Image& image);
std::vector<uint8_t> encodePng(const Image& image);

}  // namespace tessera::app
