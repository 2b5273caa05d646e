#include "sampler/image_decode.hpp"

namespace tessera::sampler {

namespace {

struct ImagePush {
  uint32_t count;
  uint32_t channels;
  uint32_t plane;
  uint32_t width;
  uint32_t factor;
};
struct MaskPush {
  uint32_t count;
  uint32_t plane;
  uint32_t width;
  uint32_t factor;
};

// The shaders sum f*f bytes in 32 bits and index pixels in 32 bits.
void checkFactor(const Shape4& s, uint32_t factor, const char* op, uint64_t sourceElements) {
  ops::require(factor >= 1 && factor <= 4096, op, "factor " + std::to_string(factor) + " is outside [1, 4096]");
  ops::require(sourceElements < (uint64_t(1) << 32), op,
               "the source of " + s.str() + " at factor " + std::to_string(factor) + " exceeds 2^32 pixels");
}

constexpr uint32_t kLocal = 256;

void checkImageTensor(const Tensor& t, const char* op, const char* name) {
  ops::require(t.shape.count() > 0 && t.shape.count() < detail::kMaxStateElements, op,
               std::string(name) + " " + t.shape.str() + " must hold 1 to 2^31 - 1 elements");
  ops::require(t.dtype == DType::F32, op, std::string(name) + " must be fp32 (sampler state)");
  ops::requireFits(t, op, name);
}

}  // namespace

void imageDecode(Program& prog, vk::KernelCache& kernels, const BufferRef& pixels, const Tensor& init,
                 uint32_t factor) {
  const char* op = "image_decode";
  checkImageTensor(init, op, "init");
  const Shape4& s = init.shape;
  ops::require(s.c >= 1 && s.c <= 4, op,
               "an RGBA8 image has 4 channels; init asks for " + std::to_string(s.c));
  const uint64_t pixelCount = uint64_t(s.n) * s.h * s.w * factor * factor;
  checkFactor(s, factor, op, pixelCount);
  ops::require(pixels.buffer != VK_NULL_HANDLE && pixels.size >= pixelCount * 4, op,
               "pixels range of " + std::to_string(pixels.size) + " bytes holds fewer than the " +
                   std::to_string(pixelCount) + " RGBA8 pixels of " + s.str());
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get("image_decode", false, spec);
  const ImagePush push{uint32_t(s.count()), s.c, s.h * s.w, s.w, factor};
  prog.add(k, {pixels, init.ref}, push, ops::strideGroups(kernels.gpu(), s.count(), kLocal), 1, 1,
           2.0 * s.count() * factor * factor);
}

void maskDecode(Program& prog, vk::KernelCache& kernels, const BufferRef& bytes, const Tensor& mask,
                uint32_t factor) {
  const char* op = "mask_decode";
  checkImageTensor(mask, op, "mask");
  const Shape4& s = mask.shape;
  ops::require(s.c == 1, op, "the mask has one channel, got " + s.str());
  const uint64_t count = s.count(), sourceCount = count * factor * factor;
  checkFactor(s, factor, op, sourceCount);
  ops::require(bytes.buffer != VK_NULL_HANDLE && bytes.size >= (sourceCount + 3) / 4 * 4, op,
               "mask bytes range of " + std::to_string(bytes.size) + " bytes holds fewer than the " +
                   std::to_string(sourceCount) + " pixels of " + s.str() +
                   (factor > 1 ? " at factor " + std::to_string(factor) : std::string()) +
                   " (rounded up to whole words)");
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get("image_decode_mask", false, spec);
  const MaskPush push{uint32_t(count), s.h * s.w, s.w, factor};
  prog.add(k, {bytes, mask.ref}, push, ops::strideGroups(kernels.gpu(), count, kLocal), 1, 1,
           2.0 * sourceCount);
}

}  // namespace tessera::sampler
