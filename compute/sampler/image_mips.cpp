#include "sampler/image_mips.hpp"

#include <algorithm>

#include "ops/op_common.hpp"

namespace tessera::sampler {

namespace {

struct Push {
  uint32_t srcWidth, srcHeight, dstWidth, dstHeight, count;
};

constexpr uint32_t kLocal = 64;

uint64_t levelAlign(uint64_t align) { return std::max<uint64_t>(align, 16); }

uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

uint32_t mipLevelCount(uint32_t w, uint32_t h) {
  uint32_t levels = 1;
  for (uint32_t s = std::max(w, h); s > 1; s >>= 1) ++levels;
  return levels;
}

uint64_t mipLevelOffset(PixelFormat format, uint32_t n, uint32_t h, uint32_t w, uint32_t level, uint64_t align) {
  uint64_t at = 0;
  for (uint32_t l = 1; l < level; ++l)
    at += alignUp(pixelBytes(format, n, mipExtent(h, l), mipExtent(w, l)), levelAlign(align));
  return at;
}

uint64_t mipChainBytes(PixelFormat format, uint32_t n, uint32_t h, uint32_t w, uint64_t align) {
  return mipLevelOffset(format, n, h, w, mipLevelCount(w, h), align);
}

void imageMips(Program& prog, vk::KernelCache& kernels, const BufferRef& pixels, const BufferRef& chain,
               PixelFormat format, uint32_t n, uint32_t h, uint32_t w, uint32_t levels, uint64_t align) {
  const char* op = "image_mips";
  ops::require(n >= 1 && h >= 1 && w >= 1, op, "needs at least one pixel in one image");
  ops::require(levels >= 1 && levels <= mipLevelCount(w, h), op,
               std::to_string(levels) + " levels is outside [1, " + std::to_string(mipLevelCount(w, h)) + "] for " +
                   std::to_string(w) + "x" + std::to_string(h));
  ops::require(uint64_t(n) * h * w < (1ull << 31), op, "at most 2^31 - 1 pixels");
  const uint64_t top = pixelBytes(format, n, h, w);
  ops::require(pixels.buffer != VK_NULL_HANDLE && pixels.size >= top, op,
               "pixels range of " + std::to_string(pixels.size) + " bytes is smaller than level 0's " +
                   std::to_string(top));
  const uint64_t need = mipLevelOffset(format, n, h, w, levels, align);
  ops::require(levels == 1 || (chain.buffer != VK_NULL_HANDLE && chain.size >= need), op,
               "chain range of " + std::to_string(chain.size) + " bytes is smaller than the " +
                   std::to_string(need) + " that " + std::to_string(levels) + " levels need");
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get(format == PixelFormat::Rgba16F ? "image_mips_rgba16f" : "image_mips_rgba8",
                                    false, spec);
  for (uint32_t l = 1; l < levels; ++l) {
    const uint32_t sw = mipExtent(w, l - 1), sh = mipExtent(h, l - 1), dw = mipExtent(w, l), dh = mipExtent(h, l);
    const uint64_t srcBytes = pixelBytes(format, n, sh, sw), dstBytes = pixelBytes(format, n, dh, dw);
    const BufferRef src = l == 1 ? BufferRef{pixels.buffer, pixels.offset, srcBytes}
                                 : BufferRef{chain.buffer, chain.offset + mipLevelOffset(format, n, h, w, l - 1, align),
                                             srcBytes};
    const BufferRef dst{chain.buffer, chain.offset + mipLevelOffset(format, n, h, w, l, align), dstBytes};
    const uint32_t count = n * dw * dh;
    // Up to 9 taps per channel, decode and encode included: a few dozen operations a pixel.
    prog.add(k, {src, dst}, Push{sw, sh, dw, dh, count}, ops::strideGroups(kernels.gpu(), count, kLocal), 1, 1,
             (format == PixelFormat::Rgba16F ? 40.0 : 80.0) * count);
  }
}

}  // namespace tessera::sampler
