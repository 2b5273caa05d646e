#include "cascade_sizes.hpp"

#include <algorithm>
#include <string>

#include "error.hpp"
#include "size_text.hpp"

namespace tessera::runtime {
namespace {

const model::ModelPackage& stageOf(const model::ModelPackage& p, uint32_t j) { return j ? p.stages()[j - 1] : p; }

uint32_t multipleOf(const model::ModelPackage& p) { return 1u << (p.layout().config.blockOutChannels.size() - 1); }

// P_j: the product of the scale factors of stages 1..j.
uint32_t scaleUpTo(const model::ModelPackage& p, uint32_t j) {
  uint32_t s = 1;
  for (uint32_t i = 1; i <= j; ++i) s *= p.stages()[i - 1].metadata().tessera.scaleFactor.value_or(1);
  return s;
}

uint32_t roundUp(uint32_t v, uint32_t m) { return (v + m - 1) / m * m; }

}  // namespace

uint32_t baseNativeSize(const model::ModelPackage& package) {
  return package.layout().config.sampleHeight.value_or(64);
}

CascadeSizes cascadeSizes(const model::ModelPackage& p, uint32_t w, uint32_t h) {
  const uint32_t native = baseNativeSize(p);
  const uint32_t stages = uint32_t(p.stages().size());
  uint32_t k = 0;
  while (k < stages && (w > native * scaleUpTo(p, k) || h > native * scaleUpTo(p, k))) ++k;
  const uint32_t total = scaleUpTo(p, k);
  // The sizes of this many stages are the multiples of the smallest m that every stage accepts.
  const auto fits = [&](uint32_t v) {
    if (v % total) return false;
    for (uint32_t j = 0; j <= k; ++j)
      if ((v / total * scaleUpTo(p, j)) % multipleOf(stageOf(p, j))) return false;
    return true;
  };
  if (!fits(w) || !fits(h)) {
    uint32_t m = total;
    while (!fits(m)) m += total;
    if (k == 0)
      fail(ErrorCode::InvalidArgument, "size " + sizeStr(w, h) + " is not a multiple of " + std::to_string(m) +
                                           ", as this model needs");
    fail(ErrorCode::InvalidArgument,
         "size " + sizeStr(w, h) + " runs this model's cascade with " + std::to_string(k) +
             " super-resolution stage(s), the base at 1/" + std::to_string(total) +
             " of it, and must be a multiple of " + std::to_string(m) + " (e.g. " +
             sizeStr(m * ((native * scaleUpTo(p, k - 1)) / m + 1), m * ((native * scaleUpTo(p, k - 1)) / m + 1)) +
             "); sizes up to " + sizeStr(native, native) + " come from the base alone");
  }
  CascadeSizes s;
  s.count = k + 1;
  for (uint32_t j = 0; j <= k; ++j) {
    s.width[j] = w / total * scaleUpTo(p, j);
    s.height[j] = h / total * scaleUpTo(p, j);
  }
  return s;
}

CascadeSizes stageExtents(const model::ModelPackage& p, uint32_t maxW, uint32_t maxH) {
  const uint32_t native = baseNativeSize(p);
  const uint32_t stages = uint32_t(p.stages().size());
  const uint32_t all = scaleUpTo(p, stages);
  CascadeSizes s;
  s.count = 1;
  const auto base = [&](uint32_t v) { return stages ? std::max(std::min(v, native), (v + all - 1) / all) : v; };
  s.width[0] = roundUp(base(maxW), multipleOf(p));
  s.height[0] = roundUp(base(maxH), multipleOf(p));
  for (uint32_t j = 1; j <= stages; ++j) {
    const uint32_t before = native * scaleUpTo(p, j - 1);
    if (maxW <= before && maxH <= before) break;
    const auto bound = [&](uint32_t v) {
      const uint32_t next = j < stages ? (uint64_t(v) * scaleUpTo(p, j) + scaleUpTo(p, j + 1) - 1) / scaleUpTo(p, j + 1) : v;
      return std::min(v, std::max(native * scaleUpTo(p, j), next));
    };
    const uint32_t m = multipleOf(stageOf(p, j));
    s.width[j] = roundUp(bound(maxW), m);
    s.height[j] = roundUp(bound(maxH), m);
    s.count = j + 1;
  }
  return s;
}

}  // namespace tessera::runtime
