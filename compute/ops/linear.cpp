#include "ops/linear.hpp"

#include <limits>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

constexpr const char* kOp = "linear";

struct Push {
  uint32_t batch;
  uint32_t inFeatures;
  uint32_t outFeatures;
};

bool isRows(const Shape4& s) { return s.h == 1 && s.w == 1; }

}  // namespace

LinearVariant linearVariant(const vk::DeviceFacts&, uint32_t inFeatures) {
  // Every weight row must start vec4-aligned; wider loads are what lavapipe rewards
  // (docs/KERNELS.md has the figures) and never hurt a GPU.
  return inFeatures % 4 == 0 ? LinearVariant::Vec4 : LinearVariant::Scalar;
}

void linear(Program& prog, vk::KernelCache& kernels, const LinearIO& io, const LinearParams& params,
            LinearVariant variant) {
  const Shape4& in = io.in.shape;
  const Shape4& w = io.weight.shape;
  require(io.weight.ref.buffer != VK_NULL_HANDLE, kOp, "weight is missing");
  require(isRows(in) && isRows(w) && isRows(io.out.shape), kOp,
          "in " + in.str() + ", weight " + w.str() + " and out " + io.out.shape.str() +
              " must be [rows,features,1,1]");
  require(w.c == in.c, kOp,
          "weight " + w.str() + " takes " + std::to_string(w.c) + " inputs, in " + in.str() + " has " +
              std::to_string(in.c));
  require(io.out.shape == Shape4{in.n, w.n, 1, 1}, kOp,
          "out " + io.out.shape.str() + " must be " + Shape4{in.n, w.n, 1, 1}.str());
  // Indices are 32-bit in the shader.
  constexpr std::size_t kMax = std::numeric_limits<uint32_t>::max();
  require(w.count() <= kMax && in.count() <= kMax && io.out.shape.count() <= kMax, kOp,
          "in " + in.str() + " or weight " + w.str() + " is too large");
  const DType t = io.in.dtype;
  bool sameType = io.weight.dtype == t && io.out.dtype == t;
  if (io.bias) {
    require(io.bias->shape.count() == w.n, kOp,
            "bias " + io.bias->shape.str() + " must hold " + std::to_string(w.n) + " values");
    requireFits(*io.bias, kOp, "bias");
    sameType = sameType && io.bias->dtype == t;
  }
  require(sameType, kOp, "tensors must share one storage type");
  requireFits(io.in, kOp, "in");
  requireFits(io.weight, kOp, "weight");
  requireFits(io.out, kOp, "out");

  if (variant == LinearVariant::Auto) variant = linearVariant(kernels.gpu().facts, in.c);
  const bool vec4 = variant == LinearVariant::Vec4;
  require(!vec4 || in.c % 4 == 0, kOp, "the vec4 variant needs inFeatures a multiple of 4");

  constexpr uint32_t kLocal = 64;
  const uint32_t spec[] = {kLocal, io.bias ? 1u : 0u, params.siluInput ? 1u : 0u,
                           params.siluOutput ? 1u : 0u};
  const vk::Kernel& k = kernels.get(vec4 ? "linear_vec4" : "linear", t == DType::F16, spec);
  const Push push{in.n, in.c, w.n};
  // Without a bias the binding still needs a buffer; the weight stands in and is never read there.
  const BufferRef bias = io.bias ? io.bias->ref : io.weight.ref;
  // One invocation per output feature (it loops over the batch rows).
  prog.add(k, {io.in.ref, io.weight.ref, bias, io.out.ref}, push, strideGroups(kernels.gpu(), w.n, kLocal), 1,
           1, 2.0 * double(io.out.shape.count()) * in.c);
}

}  // namespace tessera::ops
