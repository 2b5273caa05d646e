#include "sampler/cascade_condition.hpp"

#include <cmath>

namespace tessera::sampler {

namespace {

struct NoisePush {
  uint32_t items, perItem, blocksPerItem, stream;
  float sigma;
};

struct UpsamplePush {
  uint32_t items, channels, height, width, factor, outChannels, channelOffset;
};

constexpr uint32_t kNoiseLocal = 64;  // a Philox block per invocation, as samplerStart
constexpr uint32_t kUpsampleLocal = 256;

}  // namespace

void conditionNoise(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const Tensor& x,
                    const Tensor& low, float sigma, uint32_t stream) {
  const char* op = "cascade_cond_noise";
  const Shape4& s = x.shape;
  ops::require(s.count() > 0 && s.count() < detail::kMaxStateElements, op,
               "X " + s.str() + " must hold 1 to 2^31 - 1 elements");
  ops::require(s.n <= kMaxItems, op, "batch of " + std::to_string(s.n) + " images, above " + std::to_string(kMaxItems));
  detail::checkFp32(x, op, "X", s);
  detail::checkFp32(low, op, "low", s);
  detail::checkParams(params, s.n, op);
  ops::require(std::isfinite(sigma) && sigma >= 0.0f, op, "sigma " + std::to_string(sigma) + " must be >= 0");
  const uint32_t perItem = s.c * s.h * s.w;
  const uint32_t blocksPerItem = divUp(perItem, 4);
  const uint32_t spec[] = {kNoiseLocal};
  const vk::Kernel& k = kernels.get(op, false, spec);
  const NoisePush push{s.n, perItem, blocksPerItem, stream, sigma};
  const uint32_t groups = ops::strideGroups(kernels.gpu(), std::size_t(s.n) * blocksPerItem, kNoiseLocal);
  prog.add(k, {params, x.ref, low.ref}, push, groups, 1, 1, 250.0 * s.n * blocksPerItem + 3.0 * s.count());
}

void upsamplePeriodic(Program& prog, vk::KernelCache& kernels, const Tensor& low, const Tensor& out, uint32_t factor,
                      uint32_t channelOffset) {
  const char* op = "upsample_periodic";
  const Shape4& s = low.shape;
  ops::require(factor >= 1 && factor <= 64, op, "factor " + std::to_string(factor) + " is outside [1, 64]");
  ops::require(low.dtype == DType::F32, op, "low must be fp32");
  ops::requireFits(low, op, "low");
  const Shape4& o = out.shape;
  ops::require(o.n == s.n && o.h == s.h * factor && o.w == s.w * factor, op,
               "out " + o.str() + " is not " + s.str() + " upsampled by " + std::to_string(factor));
  ops::require(channelOffset + s.c <= o.c, op,
               "channels [" + std::to_string(channelOffset) + ", " + std::to_string(channelOffset + s.c) +
                   ") do not fit the " + std::to_string(o.c) + " of out");
  ops::require(o.count() < detail::kMaxStateElements, op, "out " + o.str() + " must hold under 2^31 elements");
  ops::requireFits(out, op, "out");
  const uint32_t spec[] = {kUpsampleLocal};
  const vk::Kernel& k = kernels.get(op, out.dtype == DType::F16, spec);
  const UpsamplePush push{s.n, s.c, s.h, s.w, factor, o.c, channelOffset};
  const std::size_t work = std::size_t(s.n) * s.c * o.h * o.w;
  prog.add(k, {low.ref, out.ref}, push, ops::strideGroups(kernels.gpu(), work, kUpsampleLocal), 1, 1, 12.0 * work);
}

}  // namespace tessera::sampler
