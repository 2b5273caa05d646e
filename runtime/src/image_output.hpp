#pragma once
// One image output, recorded with copies only: level 0 from the encoded pixels and each further
// level from the mip chain that sampler::imageMips wrote into the arena. vkCmdCopyBufferToImage
// and pipeline barriers are allowed on any queue with compute or transfer, so an async compute
// queue can make textures (a blit would need a graphics queue).
#include <cstdint>

#include "sampler/image_mips.hpp"
#include "tessera/tessera.h"
#include "vk/functions.hpp"

namespace tessera::runtime {

struct ImagePixels {
  BufferRef level0;  // the group's encoded level 0, images contiguous
  BufferRef chain;   // the group's mip chain (sampler::mipLevelOffset's layout)
  sampler::PixelFormat format;
  uint32_t count;    // images in the group
  uint32_t item;     // this output's image within it
  uint32_t width, height;
  uint64_t align;    // the chain's level alignment, as imageMips laid it out
};

// Transitions levels [0, o.mip_levels) from UNDEFINED (waiting on all earlier commands, so a
// texture still being sampled is not overwritten), copies every level in one call and leaves
// them in o.final_layout with the barrier output_barriers.hpp gives for it. The caller has made
// the pixels visible to transfer reads.
void recordImageOutput(const vk::Functions& fn, VkCommandBuffer cmd, const tsr_output& o, const ImagePixels& px);

}  // namespace tessera::runtime
