#pragma once
// Elementwise ops over same-shaped tensors: out = alpha*a + beta*b, out = alpha*a*b.
#include "program.hpp"

namespace tessera::ops {

void axpby(Program& prog, vk::KernelCache& kernels, const Tensor& a, const Tensor& b, const Tensor& out,
           float alpha, float beta);
inline void add(Program& prog, vk::KernelCache& kernels, const Tensor& a, const Tensor& b, const Tensor& out) {
  axpby(prog, kernels, a, b, out, 1.0f, 1.0f);
}
void mul(Program& prog, vk::KernelCache& kernels, const Tensor& a, const Tensor& b, const Tensor& out,
         float alpha = 1.0f);

}  // namespace tessera::ops
