#pragma once
// How much generation work to record into the next frame. tessera measures work in units of
// about a million floating-point operations; what a unit costs in milliseconds depends on the
// device, so the viewer learns it from the slices it has timed, and gives each frame what is
// left of the target frame time once drawing is paid for.
#include <cstdint>

namespace tessera::viewer {

class SliceBudget {
 public:
  struct Limits {
    double minUnits = 1.0;  // below this a slice is a single dispatch anyway
    double maxUnits = 1.0e6;
    double minShare = 0.25;  // generation always gets this share of the target frame time
    double smoothing = 0.3;  // weight of the newest measurement
    double maxChange = 2.0;  // the budget grows or shrinks by at most this factor per frame
  };

  SliceBudget(double targetFrameMs, double initialUnits, const Limits& limits);
  explicit SliceBudget(double targetFrameMs, double initialUnits = 20.0)
      : SliceBudget(targetFrameMs, initialUnits, Limits{}) {}

  // Units for the next slice.
  double units() const { return units_; }
  // A timed slice: `units` recorded took `sliceMs` on the device.
  void observeSlice(double units, double sliceMs);
  // A frame's drawing took `drawMs` on the device (with or without a slice).
  void observeDraw(double drawMs);

  double msPerUnit() const { return msPerUnit_; }
  double drawMs() const { return drawMs_; }

 private:
  void update();
  double target_;
  Limits limits_;
  double units_;
  double msPerUnit_ = 0.0;  // 0: not measured yet
  double drawMs_ = 0.0;
};

}  // namespace tessera::viewer
