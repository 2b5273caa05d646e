#pragma once
// Offsets for a graph's tensors inside one region, so that tensors alive at the same time never
// share bytes and tensors that are not reuse them. Pure arithmetic: no Vulkan, tested alone.
//
// Regions are planned separately: the caller plans activations (and scratch) with this, while
// weights, which live for the whole program, are packed one after another into their own region.
// Keeping them apart means loading a model does not depend on the shape of a request.
#include <cstdint>
#include <span>
#include <vector>

namespace tessera {

struct TensorLifetime {
  uint64_t bytes = 0;     // 0: the tensor needs no memory (offset 0, overlaps nothing)
  uint32_t firstUse = 0;  // index of the first op that writes or reads it
  uint32_t lastUse = 0;   // index of the last op that reads it, inclusive
};

struct MemoryPlan {
  std::vector<uint64_t> offsets;  // one per tensor, in input order, each a multiple of the alignment
  uint64_t total = 0;             // the region to reserve: highest end, rounded up to the alignment
  uint64_t naive = 0;             // every tensor in its own aligned range: the sum of aligned sizes
};

// Greedy by size, largest first (ties: earlier first use, then input order, so the plan is
// deterministic); each tensor goes to the lowest aligned offset where it overlaps no placed tensor
// whose lifetime intersects its own. `alignment` must be a power of two. Throws InvalidArgument
// for a lifetime that ends before it starts, or sizes whose sum overflows.
MemoryPlan planMemory(std::span<const TensorLifetime> tensors, uint64_t alignment);

// The largest sum of bytes alive during one op: no plan can reserve less.
uint64_t peakLiveBytes(std::span<const TensorLifetime> tensors);

}  // namespace tessera
