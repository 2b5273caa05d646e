// The pointwise variant of conv2d (1x1, stride 1, a GEMM over pixels) against the CPU reference.
#include "conv2d_check.hpp"

namespace tessera::test {
namespace {

using namespace conv;

class Conv2dPointwiseTest : public GpuTest {};

TEST_F(Conv2dPointwiseTest, MatchesReference) {
  // Planes whose size is and is not a multiple of 4 (vec4 rows or single pixels), partial pixel
  // blocks, several output-channel blocks, batch, concat split inside a chunk, residual and scale.
  for (DType t : precisions())
    for (Padding pad : {Padding::Zeros, Padding::Circular}) {
      check(Conv2dVariant::Pointwise, t, {{1, 13, 13, 5}, 0, 13, 1, 1, pad, true, false});
      check(Conv2dVariant::Pointwise, t, {{3, 3, 7, 9}, 0, 8, 1, 1, pad, false, true, 0.70710678f});
      check(Conv2dVariant::Pointwise, t, {{2, 7, 6, 36}, 6, 11, 1, 1, pad, true, true, 0.5f});
      check(Conv2dVariant::Pointwise, t, {{1, 21, 5, 12}, 14, 37, 1, 1, pad, true, true});
    }
}

TEST_F(Conv2dPointwiseTest, EveryNumberOfLanesAcrossQuads) {
  // 1, 2, 4 and 8 output quads (3, 8, 16 and 29 channels): 1, 2, 4 or 8 lanes on the quads and
  // the rest on more pixels; planes that fill the larger pixel blocks partly, in vec4 runs (12x20,
  // 26x14) and single pixels (9x11), batch, concat and residual.
  for (DType t : precisions())
    for (uint32_t cout : {3u, 8u, 16u, 29u}) {
      check(Conv2dVariant::Pointwise, t, {{2, 7, 12, 20}, 0, cout, 1, 1, Padding::Zeros, true, true, 0.5f});
      check(Conv2dVariant::Pointwise, t, {{1, 6, 26, 14}, 5, cout, 1, 1, Padding::Zeros, true, false});
      check(Conv2dVariant::Pointwise, t, {{3, 5, 9, 11}, 3, cout, 1, 1, Padding::Zeros, false, true});
    }
}

TEST_F(Conv2dPointwiseTest, RefusesOtherKernels) {
  expectError(
      [&] {
        Conv2d(gpu().facts, {.inChannels = 8, .outChannels = 8, .kernel = 3, .stride = 1}, DType::F32,
               Conv2dVariant::Pointwise);
      },
      ErrorCode::InvalidArgument, "pointwise variant needs a 1x1 kernel with stride 1");
  expectError(
      [&] {
        Conv2d(gpu().facts, {.inChannels = 8, .outChannels = 8, .kernel = 1, .stride = 2}, DType::F32,
               Conv2dVariant::Pointwise);
      },
      ErrorCode::InvalidArgument, "pointwise variant needs a 1x1 kernel with stride 1");
}

}  // namespace
}  // namespace tessera::test
