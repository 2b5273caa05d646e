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

  // Invocations along an output row touch neighbouring memory; 64 in all, the x extent no wider
  // than the row so that narrow low-resolution rows do not leave most of them idle.
  const uint32_t columns = vec4 ? s.w / 4 : want.w;
  uint32_t lx = 8;
  while (lx < 64 && lx < columns) lx *= 2;
  const uint32_t ly = 64 / lx;
  const uint32_t spec[] = {lx, ly};
  const vk::Kernel& k = kernels.get(vec4 ? "avg_pool2x2_vec4" : "avg_pool2x2", in.dtype == DType::F16, spec);
  const uint32_t planes = s.n * s.c;
  const uint32_t gx = std::min(divUp(columns, lx), f.maxWorkgroupCount[0]);
  const uint32_t gy = std::min(divUp(want.h, ly), f.maxWorkgroupCount[1]);
  const uint32_t gz = std::min(planes, f.maxWorkgroupCount[2]);
  prog.add(k, {in.ref, out.ref}, Push{planes, s.h, s.w}, gx, gy, gz, 4.0 * double(want.count()));
}

}  // namespace tessera::ops
