#pragma once
// Which stages of a package a request runs, and at which sizes (docs/API.md, "Cascades").
// A request no larger than the base's native size comes straight from the base; a larger one
// runs as few super-resolution stages as bring the base down to its native size or below (all of
// them when none does), the base at the request's size divided by their total scale.
#include <array>
#include <cstdint>

#include "model_package.hpp"

namespace tessera::runtime {

inline constexpr uint32_t kMaxPipelineStages = 9;  // the base and up to 8 stages (docs/FORMAT.md)

struct CascadeSizes {
  uint32_t count = 1;  // stages run, the base included
  std::array<uint32_t, kMaxPipelineStages> width{}, height{};
};

// The native size the cascade decision uses: the base's sample_size, 64 when it has none.
uint32_t baseNativeSize(const model::ModelPackage& package);

// Throws Error(InvalidArgument) naming the sizes that would work.
CascadeSizes cascadeSizes(const model::ModelPackage& package, uint32_t width, uint32_t height);

// The largest size each stage runs at for any request up to maxWidth x maxHeight (0: the stage
// is never reached), each a multiple of the stage's own size multiple.
CascadeSizes stageExtents(const model::ModelPackage& package, uint32_t maxWidth, uint32_t maxHeight);

}  // namespace tessera::runtime
