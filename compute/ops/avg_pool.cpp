#include "ops/avg_pool.hpp"

#include <algorithm>
#include <limits>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

constexpr const char* kOp = "avgPool2x2";

struct Push {
  uint32_t planes;
  uint32_t height;
  uint32_t width;
};

}  // namespace

Shape4 avgPool2x2Shape(const Shape4& in) { return {in.n, in.c, in.h / 2, in.w / 2}; }

AvgPoolVariant avgPoolVariant(const vk::DeviceFacts&, const Shape4& in) {
  // Wider accesses are what lavapipe rewards (docs/KERNELS.md has the figures) and never hurt a GPU.
  return in.w % 4 == 0 ? AvgPoolVariant::Vec4 : AvgPoolVariant::Scalar;
}

void avgPool2x2(Program& prog, vk::KernelCache& kernels, const Tensor& in, const Tensor& out,
                AvgPoolVariant variant) {
  const Shape4& s = in.shape;
  require(s.n > 0 && s.c > 0 && s.h >= 2 && s.w >= 2, kOp,
          "input " + s.str() + " is smaller than the 2x2 window");
  const Shape4 want = avgPool2x2Shape(s);
  require(out.shape == want, kOp,
          "output " + out.shape.str() + " must be " + want.str() + " for input " + s.str());
  require(out.dtype == in.dtype, kOp, "tensors must share one storage type");
  // Indices are 32-bit in the shader.
  require(s.count() <= std::numeric_limits<uint32_t>::max(), kOp, "input " + s.str() + " is too large");
  requireFits(in, kOp, "in");
  requireFits(out, kOp, "out");
  const vk::DeviceFacts& f = kernels.gpu().facts;
  if (variant == AvgPoolVariant::Auto) variant = avgPoolVariant(f, s);
  const bool vec4 = variant == AvgPoolVariant::Vec4;
  require(!vec4 || s.w % 4 == 0, kOp, "the vec4 variant needs the input width a multiple of 4");

  const uint32_t planes = s.n * s.c;
  const PlaneGrid g = planeGrid(f, vec4 ? s.w / 4 : want.w, want.h, planes);
  const uint32_t spec[] = {g.lx, g.ly};
  const vk::Kernel& k = kernels.get(vec4 ? "avg_pool2x2_vec4" : "avg_pool2x2", in.dtype == DType::F16, spec);
  prog.add(k, {in.ref, out.ref}, Push{planes, s.h, s.w}, g.gx, g.gy, g.gz, 4.0 * double(want.count()));
}

}  // namespace tessera::ops
