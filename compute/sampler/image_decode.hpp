#pragma once
// The host's images into the sampler's tensors: an init image (img2img, inpainting) and a mask.
#include "sampler/sampler_state.hpp"

namespace tessera::sampler {

// pixels: n*H*W RGBA8 words (R in the low byte), row-major per image, images back to back.
// init: fp32 [n, C, H, W], C <= 4: init[i, c, y, x] = byte_c / 127.5 - 1.
// factor f: the pixels are n images of (H*f) x (W*f), and each element is the mean over its f x f
// block (an earlier stage of a cascade decodes the host's full-size image at its own size).
void imageDecode(Program& prog, vk::KernelCache& kernels, const BufferRef& pixels, const Tensor& init,
                 uint32_t factor = 1);

// bytes: n*H*W 8-bit values packed 4 to a word (pixel j in byte j % 4 of word j / 4), images back
// to back; 255 = generate, 0 = keep. mask: fp32 [n, 1, H, W] = 1 - byte/255 (1 = keep); with
// factor f the bytes are (H*f) x (W*f) per image and each element the mean keep weight of its block.
void maskDecode(Program& prog, vk::KernelCache& kernels, const BufferRef& bytes, const Tensor& mask,
                uint32_t factor = 1);

}  // namespace tessera::sampler
