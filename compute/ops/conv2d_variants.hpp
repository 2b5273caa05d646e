#pragma once
// The fast conv2d variants, each in its own file: weight packing, scratch size and recording.
// Conv2d (conv2d.cpp) validates the call and dispatches here.
#include <span>
#include <vector>

#include "ops/conv2d.hpp"

namespace tessera::ops::conv2d_subgroup {
std::size_t packedCount(const Conv2dParams& p, uint32_t subgroupSize);
std::vector<float> pack(const Conv2dParams& p, uint32_t subgroupSize, std::span<const float> oihw,
                        std::span<const float> bias);
void record(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io);
}  // namespace tessera::ops::conv2d_subgroup

namespace tessera::ops::conv2d_pointwise {
std::size_t packedCount(const Conv2dParams& p, uint32_t subgroupSize);
std::vector<float> pack(const Conv2dParams& p, uint32_t subgroupSize, std::span<const float> oihw,
                        std::span<const float> bias);
void record(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io);
}  // namespace tessera::ops::conv2d_pointwise

namespace tessera::ops::conv2d_winograd {
std::size_t packedCount(const Conv2dParams& p, uint32_t subgroupSize);
std::vector<float> pack(const Conv2dParams& p, uint32_t subgroupSize, std::span<const float> oihw,
                        std::span<const float> bias);
// `range`: the largest storage-buffer binding; the tiles are split into blocks whose V and M
// each fit one (docs/KERNELS.md, "Splitting"), and the scratch holds one block.
std::size_t scratchBytes(const Conv2dParams& p, uint32_t subgroupSize, Shape4 in, uint64_t alignment,
                         uint64_t range);
void record(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io,
            uint64_t alignment, uint64_t range);
}  // namespace tessera::ops::conv2d_winograd
