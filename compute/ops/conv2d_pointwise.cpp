// The pointwise variant: 1x1 stride-1 convolutions as a GEMM over pixels (conv2d_pointwise.comp).
// Packed weights: [chunk of 4 input channels][4 channels of the chunk][output-channel quad][4],
// then the bias as [quad][4]; quads padded with zeros to a multiple of the lanes across quads.
#include <string>

#include "ops/conv2d_internal.hpp"
#include "ops/conv2d_variants.hpp"
#include "ops/op_common.hpp"

namespace tessera::ops::conv2d_pointwise {

using namespace conv2d_detail;

namespace {

// Pixels per lane; see docs/KERNELS.md for the measurements.
constexpr uint32_t kPixels = 32;

uint32_t quadLanes(const Conv2dParams& p, uint32_t s) { return conv2d_detail::quadLanes(divUp(p.outChannels, 4), s); }

uint32_t quadsPadded(const Conv2dParams& p, uint32_t s) {
  return divUp(divUp(p.outChannels, 4), quadLanes(p, s)) * quadLanes(p, s);
}

}  // namespace

std::size_t packedCount(const Conv2dParams& p, uint32_t s) {
  return (std::size_t(chunksOf(p).count()) * 4 + (p.bias ? 1 : 0)) * quadsPadded(p, s) * 4;
}

std::vector<float> pack(const Conv2dParams& p, uint32_t s, std::span<const float> oihw,
                        std::span<const float> bias) {
  const Chunks ch = chunksOf(p);
  const std::size_t quads = quadsPadded(p, s);
  std::vector<float> out(packedCount(p, s), 0.0f);
  for (uint32_t co = 0; co < p.outChannels; ++co) {
    for (uint32_t q = 0; q < ch.count(); ++q)
      for (uint32_t j = 0; j < 4; ++j)
        if (const int64_t ci = ch.channel(q, j); ci >= 0)
          out[((std::size_t(q) * 4 + j) * quads + co / 4) * 4 + co % 4] =
              oihw[std::size_t(co) * p.inChannels + ci];
    if (p.bias) out[std::size_t(ch.count()) * 4 * quads * 4 + co] = bias[co];
  }
  return out;
}

void record(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) {
  struct Push {
    uint32_t c1, c2, qa, qb, plane, cout, quads, pixelBlocks, hasBias, hasResidual;
    float outputScale;
  };
  const Conv2dParams& p = conv.params();
  const Chunks ch = chunksOf(p);
  const uint32_t s = kernels.gpu().facts.subgroupSize;
  const Shape4 in = io.in.shape;
  const uint32_t ql = quadLanes(p, s);
  const uint32_t plane = in.h * in.w, quads = quadsPadded(p, s), blocks = divUp(plane, kPixels * (s / ql));
  // Pixels as vec4 when every channel plane starts and ends on a multiple of 4.
  const char* name = plane % 4 == 0 ? "conv2d_pointwise4" : "conv2d_pointwise";
  const uint32_t spec[] = {s, io.in2 != nullptr, kPixels, ql};
  const vk::Kernel& k = kernels.get(name, conv.dtype() == DType::F16, spec);
  const BufferRef in2 = io.in2 ? io.in2->ref : io.in.ref;
  const BufferRef res = io.residual ? io.residual->ref : io.out.ref;
  require(uint64_t(in.n) * blocks <= kernels.gpu().facts.maxWorkgroupCount[0], kOp,
          "too many pixels for one dispatch");
  prog.add(k, {io.in.ref, in2, io.weights.ref, res, io.out.ref},
           Push{ch.c1, ch.c2, ch.qa, ch.qb, plane, p.outChannels, quads, blocks, p.bias,
                io.residual != nullptr, io.outputScale},
           in.n * blocks, quads / ql, 1, conv.flops(in));
}

}  // namespace tessera::ops::conv2d_pointwise
