#pragma once
// 2x2 average pool with stride 2, [N,C,H,W] -> [N,C,H/2,W/2] (floored for odd sizes, like
// PyTorch): diffusers' Downsample2D without a convolution (avg_pool2d(kernel_size=2, stride=2)).
#include "program.hpp"

namespace tessera::ops {

Shape4 avgPool2x2Shape(const Shape4& in);

enum class AvgPoolVariant { Auto, Scalar, Vec4 };

// The variant Auto picks: Vec4 (4-wide input runs, pairs of outputs) when W is a multiple of 4.
AvgPoolVariant avgPoolVariant(const vk::DeviceFacts& facts, const Shape4& in);

void avgPool2x2(Program& prog, vk::KernelCache& kernels, const Tensor& in, const Tensor& out,
                AvgPoolVariant variant = AvgPoolVariant::Auto);

}  // namespace tessera::ops
