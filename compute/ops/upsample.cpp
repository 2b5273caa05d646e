#include "ops/upsample.hpp"

#include <algorithm>
#include <limits>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

constexpr const char* kOp = "upsampleNearest2x";

struct Push {
  uint32_t planes;
  uint32_t height;
  uint32_t width;
};

}  // namespace

Shape4 upsampleNearest2xShape(const Shape4& in) { return {in.n, in.c, 2 * in.h, 2 * in.w}; }

UpsampleVariant upsampleVariant(const vk::DeviceFacts&, const Shape4& in) {
  // Wider accesses are what lavapipe rewards (docs/KERNELS.md has the figures) and never hurt a GPU.
  return in.w % 2 == 0 ? UpsampleVariant::Vec4 : UpsampleVariant::Scalar;
}

void upsampleNearest2x(Program& prog, vk::KernelCache& kernels, const Tensor& in, const Tensor& out,
                       UpsampleVariant variant) {
  const Shape4& s = in.shape;
  require(s.count() > 0, kOp, "input " + s.str() + " is empty");
  require(
      out.shape == upsampleNearest2xShape(s), kOp,
      "output " + out.shape.str() + " must be " + upsampleNearest2xShape(s).str() + " for input " + s.str());
  require(out.dtype == in.dtype, kOp, "tensors must share one storage type");
  // Indices are 32-bit in the shader.
  require(out.shape.count() <= std::numeric_limits<uint32_t>::max(), kOp,
          "output " + out.shape.str() + " is too large");
  requireFits(in, kOp, "in");
  requireFits(out, kOp, "out");
  const vk::DeviceFacts& f = kernels.gpu().facts;
  if (variant == UpsampleVariant::Auto) variant = upsampleVariant(f, s);
  const bool vec4 = variant == UpsampleVariant::Vec4;
  require(!vec4 || s.w % 2 == 0, kOp, "the vec4 variant needs an even input width");

  const uint32_t planes = s.n * s.c;
  const PlaneGrid g = planeGrid(f, vec4 ? s.w / 2 : s.w, s.h, planes);
  const uint32_t spec[] = {g.lx, g.ly};
  const vk::Kernel& k =
      kernels.get(vec4 ? "upsample_nearest2x_vec4" : "upsample_nearest2x", in.dtype == DType::F16, spec);
  prog.add(k, {in.ref, out.ref}, Push{planes, s.h, s.w}, g.gx, g.gy, g.gz, 0.0);
}

}  // namespace tessera::ops
