#include "memory_planner.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <string>

#include "error.hpp"

namespace tessera {

namespace {

uint64_t alignUp(uint64_t v, uint64_t a, const char* what) {
  if (v > UINT64_MAX - (a - 1))
    fail(ErrorCode::InvalidArgument, std::string("memory plan: ") + what + " overflows");
  return (v + a - 1) & ~(a - 1);
}

struct Placed {
  uint64_t begin, end;
  uint32_t first, last;
};

}  // namespace

MemoryPlan planMemory(std::span<const TensorLifetime> tensors, uint64_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)))
    fail(ErrorCode::InvalidArgument,
         "memory plan: alignment " + std::to_string(alignment) + " is not a power of two");
  MemoryPlan plan;
  plan.offsets.assign(tensors.size(), 0);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorLifetime& t = tensors[i];
    if (t.firstUse > t.lastUse)
      fail(ErrorCode::InvalidArgument, "memory plan: tensor " + std::to_string(i) + " is last used at op " +
                                           std::to_string(t.lastUse) + ", before its first use at op " +
                                           std::to_string(t.firstUse));
    const uint64_t sized = alignUp(t.bytes, alignment, "a tensor's size");
    if (plan.naive > UINT64_MAX - sized)
      fail(ErrorCode::InvalidArgument, "memory plan: total size overflows");
    plan.naive += sized;
  }

  std::vector<uint32_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (tensors[a].bytes != tensors[b].bytes) return tensors[a].bytes > tensors[b].bytes;
    return tensors[a].firstUse < tensors[b].firstUse;
  });

  std::vector<Placed> placed;
  std::vector<std::pair<uint64_t, uint64_t>> busy;  // ranges of placed tensors alive with this one
  placed.reserve(tensors.size());
  uint64_t extent = 0;
  for (uint32_t i : order) {
    const TensorLifetime& t = tensors[i];
    if (t.bytes == 0) continue;
    busy.clear();
    for (const Placed& p : placed)
      if (p.first <= t.lastUse && t.firstUse <= p.last) busy.emplace_back(p.begin, p.end);
    std::sort(busy.begin(), busy.end());
    // First fit: walk the conflicting ranges by start; the candidate moves past each one it
    // would touch, and the first gap before a range's start that holds the tensor wins. Offsets
    // stay bounded by naive (a sum of aligned sizes), so the arithmetic cannot overflow.
    uint64_t at = 0;
    for (const auto& [begin, end] : busy) {
      if (at + t.bytes <= begin) break;
      at = std::max(at, alignUp(end, alignment, "an offset"));
    }
    plan.offsets[i] = at;
    placed.push_back({at, at + t.bytes, t.firstUse, t.lastUse});
    extent = std::max(extent, at + t.bytes);
  }
  plan.total = alignUp(extent, alignment, "the plan's extent");
  return plan;
}

uint64_t peakLiveBytes(std::span<const TensorLifetime> tensors) {
  // Sweep over op indices: bytes join where a lifetime starts and leave one op after it ends.
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> events;  // op -> (joining, leaving)
  for (const TensorLifetime& t : tensors) {
    events[t.firstUse].first += t.bytes;
    events[uint64_t(t.lastUse) + 1].second += t.bytes;
  }
  uint64_t live = 0, peak = 0;
  for (const auto& [op, e] : events) {
    live = live - e.second + e.first;
    peak = std::max(peak, live);
  }
  return peak;
}

}  // namespace tessera
