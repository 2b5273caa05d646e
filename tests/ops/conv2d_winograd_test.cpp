// The Winograd F(4,3) variant of conv2d (3x3, stride 1) against the CPU reference.
#include "conv2d_check.hpp"

namespace tessera::test {
namespace {

using namespace conv;

class Conv2dWinogradTest : public GpuTest {};

TEST_F(Conv2dWinogradTest, MatchesReference) {
  for (DType t : precisions())
    for (const Case& c : matrix(false, false)) check(Conv2dVariant::Winograd, t, c);
}

TEST_F(Conv2dWinogradTest, DeepChannelsStayWithinFp32Tolerance) {
  // The transforms' error grows with the channel count summed over: the network's deepest layer
  // (a 192-channel concat) on a size with partial tiles in both directions, batch 3.
  for (DType t : precisions())
    check(Conv2dVariant::Winograd, t, {{3, 128, 13, 22}, 64, 40, 3, 1, Padding::Circular, true, true, 0.5f});
}

TEST_F(Conv2dWinogradTest, RowsOfFourMatchReference) {
  // Widths that are a multiple of 4 take the vec4 row paths: tile rows shorter than, equal to and
  // longer than one subgroup, partial tiles at the bottom, batch, concat and residual.
  for (DType t : precisions())
    for (Padding pad : {Padding::Zeros, Padding::Circular}) {
      check(Conv2dVariant::Winograd, t, {{1, 5, 9, 12}, 0, 6, 3, 1, pad, true, false});
      check(Conv2dVariant::Winograd, t, {{3, 4, 7, 32}, 3, 9, 3, 1, pad, true, true, 0.5f});
      check(Conv2dVariant::Winograd, t, {{1, 13, 22, 68}, 0, 5, 3, 1, pad, false, true});
    }
}

TEST_F(Conv2dWinogradTest, CircularPaddingCommutesWithRoll) {
  for (DType t : precisions())
    for (uint32_t w : {14u, 40u})
      checkRollProperty(Conv2dVariant::Winograd, t, {{1, 6, 9, w}, 0, 7, 3, 1, Padding::Circular}, 3);
}

}  // namespace
}  // namespace tessera::test
