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

  // Invocations along a row touch neighbouring memory; 64 in all, the x extent no wider than the
  // row so that narrow low-resolution rows do not leave most of them idle.
  const uint32_t columns = vec4 ? s.w / 2 : s.w;
  uint32_t lx = 8;
  while (lx < 64 && lx < columns) lx *= 2;
  const uint32_t ly = 64 / lx;
  const uint32_t spec[] = {lx, ly};
  const vk::Kernel& k =
      kernels.get(vec4 ? "upsample_nearest2x_vec4" : "upsample_nearest2x", in.dtype == DType::F16, spec);
  const uint32_t planes = s.n * s.c;
  const uint32_t gx = std::min(divUp(columns, lx), f.maxWorkgroupCount[0]);
  const uint32_t gy = std::min(divUp(s.h, ly), f.maxWorkgroupCount[1]);
  const uint32_t gz = std::min(planes, f.maxWorkgroupCount[2]);
  prog.add(k, {in.ref, out.ref}, Push{planes, s.h, s.w}, gx, gy, gz, 0.0);
}

}  // namespace tessera::ops
