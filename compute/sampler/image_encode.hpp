#pragma once
// The sampler's final state into the host's pixel format.
#include "sampler/sampler_state.hpp"

namespace tessera::sampler {

enum class PixelFormat {
  Rgba8,    // one word per pixel, the model's sRGB-encoded values (for an _SRGB or _UNORM image)
  Rgba16F,  // two words per pixel, linear light (the sRGB EOTF applied), alpha linear
};

// Bytes of `pixels` for n images of H x W.
uint64_t pixelBytes(PixelFormat format, uint32_t n, uint32_t h, uint32_t w);

// x: fp32 [n, C, H, W], C <= 4 (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA). Image i lands at pixel
// i*H*W of `pixels`, row-major. Rgba8: byte = roundEven((clamp(x, -1, 1) + 1) * 127.5) in fp32
// (tools/train/edm.py to_u8); Rgba16F: sRGB EOTF of (clamp(x, -1, 1) + 1) / 2, packHalf2x16.
void imageEncode(Program& prog, vk::KernelCache& kernels, const Tensor& x, const BufferRef& pixels,
                 PixelFormat format);

}  // namespace tessera::sampler
