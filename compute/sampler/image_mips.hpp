#pragma once
// Mip chains of encoded pixels, made by compute shaders into a buffer (image_mips_*.comp), so
// that an output image needs only copies (vkCmdCopyBufferToImage runs on compute and transfer
// queues) — no blit, which only graphics queues have, and no storage image, which sRGB formats
// usually cannot be.
#include "sampler/image_encode.hpp"

namespace tessera::sampler {

// The size of level `level` of a W x H image: max(size >> level, 1) per axis.
inline uint32_t mipExtent(uint32_t size, uint32_t level) { return level >= 32 ? 1u : std::max(size >> level, 1u); }

// Levels a full chain of W x H has (down to 1 x 1).
uint32_t mipLevelCount(uint32_t w, uint32_t h);

// The chain's buffer holds levels 1.. of n images level after level, each level's n images
// contiguous (as `pixels` holds level 0), each level starting at a multiple of `align` (the
// device's storage-buffer offset alignment, and at least 16 so every level can be copied to an
// image). Offset of level `level` >= 1 within it:
uint64_t mipLevelOffset(PixelFormat format, uint32_t n, uint32_t h, uint32_t w, uint32_t level, uint64_t align);
// Bytes of the whole chain (levels 1 .. mipLevelCount - 1). A smaller image or batch needs no
// more than a larger one.
uint64_t mipChainBytes(PixelFormat format, uint32_t n, uint32_t h, uint32_t w, uint64_t align);

// Appends levels - 1 dispatches; dispatch l - 1 writes level l of every image from level l - 1
// (level 0 is `pixels`, as imageEncode wrote it): a box filter over each texel's footprint (the
// 2x2 box for even sizes, three taps weighted by coverage along an odd axis), in linear light.
// Rgba8 bytes are sRGB-decoded before filtering and encoded after (for _SRGB and _UNORM alike:
// both hold sRGB-encoded colour); Rgba16F is linear already.
void imageMips(Program& prog, vk::KernelCache& kernels, const BufferRef& pixels, const BufferRef& chain,
               PixelFormat format, uint32_t n, uint32_t h, uint32_t w, uint32_t levels, uint64_t align);

}  // namespace tessera::sampler
