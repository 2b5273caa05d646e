#include "png_io.hpp"

#include <climits>
#include <fstream>
#include <iterator>
#include <system_error>

// The one translation unit that compiles stb's implementations.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>

namespace tessera::app {
namespace {

// Larger pictures than any texture the library makes; the cap keeps a hostile header from
// asking stb for gigabytes.
constexpr int kMaxSide = 16384;

void checkChannels(uint32_t channels) {
  if (channels < 1 || channels > 4)
    throw ImageError("an image has 1 to 4 channels, not " + std::to_string(channels));
}

}  // namespace

Image decodeImage(const std::vector<uint8_t>& bytes, uint32_t channels, const std::string& name) {
  checkChannels(channels);
  if (bytes.empty()) throw ImageError("cannot read image " + name + ": the file is empty");
  if (bytes.size() > std::size_t(INT_MAX))
    throw ImageError("cannot read image " + name + ": the file is too large");
  const int len = int(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp))
    throw ImageError("cannot read image " + name + ": " + stbi_failure_reason());
  if (w <= 0 || h <= 0 || w > kMaxSide || h > kMaxSide)
    throw ImageError("cannot read image " + name + ": " + std::to_string(w) + "x" + std::to_string(h) +
                     " is larger than " + std::to_string(kMaxSide) + " pixels a side");
  stbi_uc* data = stbi_load_from_memory(bytes.data(), len, &w, &h, &comp, int(channels));
  if (!data) throw ImageError("cannot read image " + name + ": " + stbi_failure_reason());
  Image image(uint32_t(w), uint32_t(h), channels);
  std::copy(data, data + image.pixels.size(), image.pixels.begin());
  stbi_image_free(data);
  return image;
}

Image readImage(const std::filesystem::path& path, uint32_t channels) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    const bool exists = std::filesystem::exists(path, ec);
    throw ImageError("cannot read image " + path.string() + ": " +
                     (exists ? "it cannot be opened" : "no such file"));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw ImageError("cannot read image " + path.string() + ": a read error");
  return decodeImage(bytes, channels, path.string());
}

std::vector<uint8_t> encodePng(const Image& image) {
  checkChannels(image.channels);
  if (image.width == 0 || image.height == 0 || image.width > uint32_t(kMaxSide) ||
      image.height > uint32_t(kMaxSide))
    throw ImageError("cannot write a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                     " PNG");
  if (image.pixels.size() != std::size_t(image.width) * image.height * image.channels)
    throw ImageError("an image's pixels do not match its size");
  std::vector<uint8_t> out;
  const auto append = [](void* context, void* data, int size) {
    auto* v = static_cast<std::vector<uint8_t>*>(context);
    const auto* p = static_cast<const uint8_t*>(data);
    v->insert(v->end(), p, p + size);
  };
  if (!stbi_write_png_to_func(append, &out, int(image.width), int(image.height), int(image.channels),
                              image.pixels.data(), int(image.width * image.channels)))
    throw ImageError("cannot encode a PNG");
  return out;
}

void writePng(const std::filesystem::path& path, const Image& image) {
  const std::vector<uint8_t> bytes = encodePng(image);
  // Written beside the target and renamed over it, so a reader never sees half a file.
  std::filesystem::path tmp = path;
  tmp += ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw ImageError("cannot write " + path.string() + ": cannot create " + tmp.string());
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw ImageError("cannot write " + path.string() + ": a write error");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(tmp, ec);
    throw ImageError("cannot write " + path.string() + ": " + why);
  }
}

}  // namespace tessera::app
