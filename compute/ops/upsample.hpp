#pragma once
// Nearest-neighbour 2x upsample, [N,C,H,W] -> [N,C,2H,2W]: diffusers' Upsample2D
// (F.interpolate(scale_factor=2.0, mode="nearest")) before its convolution.
#include "program.hpp"

namespace tessera::ops {

Shape4 upsampleNearest2xShape(const Shape4& in);

enum class UpsampleVariant { Auto, Scalar, Vec4 };

// The variant Auto picks: Vec4 (pairs of input pixels, 4-wide output runs) when W is even.
UpsampleVariant upsampleVariant(const vk::DeviceFacts& facts, const Shape4& in);

void upsampleNearest2x(Program& prog, vk::KernelCache& kernels, const Tensor& in, const Tensor& out,
                       UpsampleVariant variant = UpsampleVariant::Auto);

}  // namespace tessera::ops
