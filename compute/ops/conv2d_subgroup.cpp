// The subgroup direct variant: one lane per output channel (MB of them), a PY x PX block of output
// pixels per lane. Weight layout, per output-channel block of S*MB channels:
//   [block][chunk of 4 input channels][m][tap][lane] -> vec4 over the chunk's 4 channels,
// then the bias as [block][m][lane] -> vec4(bias, 0, 0, 0), so every weight load is one vec4.
#include <string>

#include "ops/conv2d_internal.hpp"
#include "ops/conv2d_variants.hpp"
#include "ops/op_common.hpp"

namespace tessera::ops::conv2d_subgroup {

using namespace conv2d_detail;

namespace {

struct Tile {
  uint32_t px, py, mb;
};

// 64 accumulators per lane; more spill. For 3x3, two output channels per lane over 8x4 pixels
// used 10-30% less CPU time than one over 8x8 (stride 1 and 2) or four over 4x4 (KERNELS.md).
Tile tileFor(const Conv2dParams& p) {
  if (p.kernel == 1) return {8, 8, 1};
  return {8, 4, 2};
}

uint32_t blocks(const Conv2dParams& p, uint32_t s) { return divUp(p.outChannels, s * tileFor(p).mb); }

}  // namespace

std::size_t packedCount(const Conv2dParams& p, uint32_t s) {
  const Tile t = tileFor(p);
  const std::size_t perBlock = std::size_t(chunksOf(p).count()) * t.mb * p.kernel * p.kernel * s * 4;
  return blocks(p, s) * (perBlock + (p.bias ? std::size_t(t.mb) * s * 4 : 0));
}

std::vector<float> pack(const Conv2dParams& p, uint32_t s, std::span<const float> oihw,
                        std::span<const float> bias) {
  const Tile t = tileFor(p);
  const Chunks ch = chunksOf(p);
  const uint32_t kk = p.kernel * p.kernel, nb = blocks(p, s);
  std::vector<float> out(packedCount(p, s), 0.0f);
  std::size_t i = 0;
  for (uint32_t b = 0; b < nb; ++b)
    for (uint32_t q = 0; q < ch.count(); ++q)
      for (uint32_t m = 0; m < t.mb; ++m)
        for (uint32_t tap = 0; tap < kk; ++tap)
          for (uint32_t lane = 0; lane < s; ++lane)
            for (uint32_t j = 0; j < 4; ++j, ++i) {
              const uint32_t co = (b * t.mb + m) * s + lane;
              const int64_t ci = ch.channel(q, j);
              if (co < p.outChannels && ci >= 0)
                out[i] = oihw[(std::size_t(co) * p.inChannels + ci) * kk + tap];
            }
  if (p.bias)
    for (uint32_t b = 0; b < nb; ++b)
      for (uint32_t m = 0; m < t.mb; ++m)
        for (uint32_t lane = 0; lane < s; ++lane, i += 4) {
          const uint32_t co = (b * t.mb + m) * s + lane;
          if (co < p.outChannels) out[i] = bias[co];
        }
  return out;
}

void record(const Conv2d& conv, Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) {
  struct Push {
    uint32_t c1, c2, qa, qb, h, w, ho, wo, cout, coBlocks, circular, hasBias, hasResidual;
    float outputScale;
    uint32_t padBefore;
  };
  const Conv2dParams& p = conv.params();
  const Tile t = tileFor(p);
  const Chunks ch = chunksOf(p);
  const uint32_t s = kernels.gpu().facts.subgroupSize;
  const Shape4 in = io.in.shape, out = io.out.shape;
  const uint32_t spec[] = {s, p.kernel, p.stride, io.in2 != nullptr, t.px, t.py, t.mb};
  const vk::Kernel& k = kernels.get("conv2d_subgroup", conv.dtype() == DType::F16, spec);
  const uint32_t nb = blocks(p, s);
  const Push push{ch.c1,
                  ch.c2,
                  ch.qa,
                  ch.qb,
                  in.h,
                  in.w,
                  out.h,
                  out.w,
                  out.c,
                  nb,
                  conv.paddingFor(io) == Padding::Circular,
                  p.bias,
                  io.residual != nullptr,
                  io.outputScale,
                  p.padBefore()};
  const BufferRef in2 = io.in2 ? io.in2->ref : io.in.ref;
  const BufferRef res = io.residual ? io.residual->ref : io.in.ref;
  require(in.n * nb <= kernels.gpu().facts.maxWorkgroupCount[2], kOp, "batch x channel blocks too large");
  prog.add(k, {io.in.ref, in2, io.weights.ref, res, io.out.ref}, push, divUp(out.w, t.px), divUp(out.h, t.py),
           in.n * nb, conv.flops(in));
}

}  // namespace tessera::ops::conv2d_subgroup
