// The subgroup direct variant of conv2d against the CPU reference.
#include "conv2d_check.hpp"

namespace tessera::test {
namespace {

using namespace conv;

class Conv2dSubgroupTest : public GpuTest {};

TEST_F(Conv2dSubgroupTest, MatchesReference) {
  for (DType t : precisions())
    for (const Case& c : matrix(true, true)) check(Conv2dVariant::Subgroup, t, c);
}

TEST_F(Conv2dSubgroupTest, ManyChannelsAndBlocks) {
  // Several output-channel blocks, channel counts that are no multiple of 4, a concat split inside a chunk.
  for (DType t : precisions())
    check(Conv2dVariant::Subgroup, t, {{1, 21, 9, 19}, 14, 37, 3, 1, Padding::Circular, true, true});
}

TEST_F(Conv2dSubgroupTest, PadAfterOnlyMatchesReference) {
  for (DType t : precisions())
    for (const Case& c : padAfterMatrix()) check(Conv2dVariant::Subgroup, t, c);
}

TEST_F(Conv2dSubgroupTest, CircularPaddingCommutesWithRoll) {
  for (DType t : precisions())
    checkRollProperty(Conv2dVariant::Subgroup, t, {{1, 5, 10, 13}, 0, 9, 3, 1, Padding::Circular}, 5);
}

}  // namespace
}  // namespace tessera::test
