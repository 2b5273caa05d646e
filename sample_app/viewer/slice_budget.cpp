#include "slice_budget.hpp"

#include <algorithm>

namespace tessera::viewer {

SliceBudget::SliceBudget(double targetFrameMs, double initialUnits, const Limits& limits)
    : target_(targetFrameMs),
      limits_(limits),
      units_(std::clamp(initialUnits, limits.minUnits, limits.maxUnits)) {}

void SliceBudget::observeSlice(double units, double sliceMs) {
  if (units <= 0.0 || sliceMs <= 0.0) return;
  // A dispatch larger than the budget is recorded alone, so ms/unit can read high for one
  // frame; smoothing and the bounded step keep one such frame from collapsing the budget.
  const double sample = sliceMs / units;
  msPerUnit_ = msPerUnit_ == 0.0 ? sample : msPerUnit_ + limits_.smoothing * (sample - msPerUnit_);
  update();
}

void SliceBudget::observeDraw(double drawMs) {
  if (drawMs < 0.0) return;
  drawMs_ = drawMs_ == 0.0 ? drawMs : drawMs_ + limits_.smoothing * (drawMs - drawMs_);
}

void SliceBudget::update() {
  if (msPerUnit_ <= 0.0) return;
  const double available = std::max(target_ - drawMs_, limits_.minShare * target_);
  const double wanted = available / msPerUnit_;
  const double next = std::clamp(wanted, units_ / limits_.maxChange, units_ * limits_.maxChange);
  units_ = std::clamp(next, limits_.minUnits, limits_.maxUnits);
}

}  // namespace tessera::viewer
