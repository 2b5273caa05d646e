// The shared-memory tiled variant of conv2d (the GPU choice) against the CPU reference. It runs on
// lavapipe too, slowly, which is enough to prove it right.
#include "conv2d_check.hpp"

namespace tessera::test {
namespace {

using namespace conv;

class Conv2dTiledTest : public GpuTest {};

TEST_F(Conv2dTiledTest, MatchesReference) {
  for (DType t : precisions())
    for (const Case& c : matrix(true, true)) check(Conv2dVariant::Tiled, t, c);
}

TEST_F(Conv2dTiledTest, SeveralChannelBlocksAndChunks) {
  // More than 64 output channels (two blocks) and input chunks of 8 split by the concat.
  for (DType t : precisions())
    check(Conv2dVariant::Tiled, t, {{2, 11, 10, 19}, 6, 70, 3, 1, Padding::Circular, true, true});
}

TEST_F(Conv2dTiledTest, PadAfterOnlyMatchesReference) {
  for (DType t : precisions())
    for (const Case& c : padAfterMatrix()) check(Conv2dVariant::Tiled, t, c);
}

TEST_F(Conv2dTiledTest, CircularPaddingCommutesWithRoll) {
  for (DType t : precisions())
    checkRollProperty(Conv2dVariant::Tiled, t, {{1, 5, 10, 13}, 0, 9, 3, 1, Padding::Circular}, 5);
}

}  // namespace
}  // namespace tessera::test
