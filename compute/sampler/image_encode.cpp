#include "sampler/image_encode.hpp"

namespace tessera::sampler {

namespace {

struct Push {
  uint32_t count;
  uint32_t channels;
  uint32_t plane;
};

constexpr uint32_t kLocal = 256;

}  // namespace

uint64_t pixelBytes(PixelFormat format, uint32_t n, uint32_t h, uint32_t w) {
  return uint64_t(n) * h * w * (format == PixelFormat::Rgba16F ? 8 : 4);
}

void imageEncode(Program& prog, vk::KernelCache& kernels, const Tensor& x, const BufferRef& pixels,
                 PixelFormat format) {
  const char* op = "image_encode";
  const Shape4& s = x.shape;
  ops::require(s.count() > 0 && s.count() < detail::kMaxStateElements, op,
               "X " + s.str() + " must hold 1 to 2^31 - 1 elements");
  ops::require(x.dtype == DType::F32, op, "X must be fp32 (sampler state)");
  ops::require(s.c >= 1 && s.c <= 4, op, "pixels hold at most 4 channels; X has " + std::to_string(s.c));
  ops::requireFits(x, op, "X");
  const uint64_t bytes = pixelBytes(format, s.n, s.h, s.w);
  ops::require(pixels.buffer != VK_NULL_HANDLE && pixels.size >= bytes, op,
               "pixels range of " + std::to_string(pixels.size) + " bytes is smaller than the " +
                   std::to_string(bytes) + " that " + s.str() + " needs");
  const uint32_t count = s.n * s.h * s.w;
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get(
      format == PixelFormat::Rgba16F ? "image_encode_rgba16f" : "image_encode_rgba8", false, spec);
  const Push push{count, s.c, s.h * s.w};
  prog.add(k, {x.ref, pixels}, push, ops::strideGroups(kernels.gpu(), count, kLocal), 1, 1,
           (format == PixelFormat::Rgba16F ? 30.0 : 5.0) * s.count());
}

}  // namespace tessera::sampler
