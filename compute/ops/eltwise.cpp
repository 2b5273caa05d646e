#include "ops/eltwise.hpp"

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

struct Push {
  uint32_t count;
  uint32_t multiply;
  float alpha;
  float beta;
};

void eltwise(Program& prog, vk::KernelCache& kernels, const Tensor& a, const Tensor& b, const Tensor& out,
             uint32_t multiply, float alpha, float beta) {
  const char* op = multiply ? "mul" : "axpby";
  require(a.shape == b.shape && a.shape == out.shape, op,
          "shapes differ: " + a.shape.str() + ", " + b.shape.str() + " -> " + out.shape.str());
  require(a.dtype == b.dtype && a.dtype == out.dtype, op, "tensors must share one storage type");
  requireFits(a, op, "a");
  requireFits(b, op, "b");
  requireFits(out, op, "out");
  constexpr uint32_t kLocal = 256;
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get("eltwise", out.dtype == DType::F16, spec);
  Push push{static_cast<uint32_t>(out.shape.count()), multiply, alpha, beta};
  prog.add(k, {a.ref, b.ref, out.ref}, push, strideGroups(kernels.gpu(), out.shape.count(), kLocal), 1, 1,
           2.0 * out.shape.count());
}

}  // namespace

void axpby(Program& prog, vk::KernelCache& kernels, const Tensor& a, const Tensor& b, const Tensor& out,
           float alpha, float beta) {
  eltwise(prog, kernels, a, b, out, 0, alpha, beta);
}

void mul(Program& prog, vk::KernelCache& kernels, const Tensor& a, const Tensor& b, const Tensor& out,
         float alpha) {
  eltwise(prog, kernels, a, b, out, 1, alpha, 0.0f);
}

}  // namespace tessera::ops
