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

TEST_F(Conv2dWinogradTest, EveryNumberOfLanesAcrossQuads) {
  // 1, 2, 4 and 8 output quads (3, 8, 16 and 29 channels): the GEMM puts 1, 2, 4 or 8 lanes on
  // the quads and the rest on more tiles; sizes whose tiles do not fill the larger tile blocks.
  for (DType t : precisions())
    for (uint32_t cout : {3u, 8u, 16u, 29u}) {
      check(Conv2dVariant::Winograd, t, {{2, 7, 12, 16}, 0, cout, 3, 1, Padding::Circular, true, true, 0.5f});
      check(Conv2dVariant::Winograd, t, {{1, 6, 9, 10}, 5, cout, 3, 1, Padding::Zeros, true, false});
    }
}

TEST_F(Conv2dWinogradTest, CircularPaddingCommutesWithRoll) {
  for (DType t : precisions())
    for (uint32_t w : {14u, 40u})
      checkRollProperty(Conv2dVariant::Winograd, t, {{1, 6, 9, w}, 0, 7, 3, 1, Padding::Circular}, 3);
}

// The GEMM's lanes across output quads: the power of two covering the quads, at most the subgroup.
uint32_t quadLanes(const Case& c) {
  const uint32_t s = GpuTest::gpu().facts.subgroupSize;
  uint32_t ql = 1;
  while (ql < divUp(c.cout, 4) && ql < s) ql *= 2;
  return ql;
}

// Tiles per GEMM workgroup: max(32, subgroup) per lane, times the lanes' tile groups.
uint32_t tileBlock(const Case& c) {
  const uint32_t s = GpuTest::gpu().facts.subgroupSize;
  return std::max<uint32_t>(32, s) * (s / quadLanes(c));
}

// Bytes of V or M per tile: 36 positions x the larger of input chunks and output quads (padded to
// the GEMM's lanes across quads) x one vec4 of fp32 (docs/KERNELS.md, "Splitting").
uint64_t bytesPerTile(const Case& c) {
  const uint32_t chunks = divUp(c.in.c, 4) + divUp(c.in2, 4);
  const uint32_t quads = divUp(divUp(c.cout, 4), quadLanes(c)) * quadLanes(c);
  return 36ull * std::max(chunks, quads) * 16;
}

// Runs `c` with the device's range and with the range lowered to `tiles` tiles per binding: the
// split output must equal the unsplit one bit for bit (each tile's arithmetic is the same), both
// must match the double-precision reference, and the split scratch must be smaller (proof that
// the split happened). Outputs and scratch are poisoned before each run.
void checkSplit(DType t, const Case& c, uint64_t tiles) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed) + " " + dtypeName(t) + " " + c.str() + " tiles per binding " +
               std::to_string(tiles));
  std::mt19937_64 rng(seed);
  vk::DeviceFacts lowered = GpuTest::gpu().facts;
  lowered.maxStorageBufferRange = tiles * bytesPerTile(c);
  const Conv2d whole(GpuTest::gpu().facts, c.params(), t, Conv2dVariant::Winograd);
  const Conv2d split(lowered, c.params(), t, Conv2dVariant::Winograd);
  ASSERT_LT(split.scratchBytes(c.in), whole.scratchBytes(c.in));
  Data d = randomData(c, t, rng);
  const Shape4 outShape = whole.outputShape(c.in);
  if (c.residual) d.res = roundTo(t, randomVector(rng, outShape.count()));
  const std::vector<float> a = run(whole, c, d, t), b = run(split, c, d, t);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "element " << i;
  expectClose(b, reference(c, d, outShape), toleranceFor(t), "split conv2d");
}

TEST_F(Conv2dWinogradTest, SplitDispatchesMatchUnsplit) {
  // Batch 3 of 40x36 (9x10 tiles of 4, rows of 4 columns as vec4) and 40x38 (10x10 tiles, the
  // scalar paths), with a concat, residual and scale. 192 tiles per binding: two images per
  // block, the last block one; 96: one image per block; 32: bands of 3 tile rows, the last band
  // shorter.
  for (DType t : precisions())
    for (Padding pad : {Padding::Circular, Padding::Zeros})
      for (uint32_t w : {36u, 38u})
        for (uint64_t tiles : {192u, 96u, 32u}) {
          const uint64_t perImage = uint64_t(divUp(w, 4)) * 10;
          if (tiles == 192 && perImage * 2 > 192) continue;
          checkSplit(t, {{3, 5, 40, w}, 3, 32, 3, 1, pad, true, true, 0.5f}, tiles);
        }
}

TEST_F(Conv2dWinogradTest, FewOutputChannelsSplitToo) {
  // 6 output channels: 2 quads, so the GEMM's lanes spread over more tiles and its tile block is
  // larger; blocks are whole numbers of it. Batch 3 of 40x36 (90 tiles an image): two images per
  // block, then one; one 40x200 image (500 tiles): bands of tile rows.
  for (DType t : precisions())
    for (Padding pad : {Padding::Circular, Padding::Zeros}) {
      const Case batch{{3, 5, 40, 36}, 3, 6, 3, 1, pad, true, true, 0.5f};
      const uint64_t block = tileBlock(batch);
      ASSERT_GT(block, 32u) << "6 channels should give the GEMM more tiles per workgroup";
      if (block < 90) continue;  // a device with large subgroups: the cases below are not splits
      checkSplit(t, batch, divUp(180, block) * block);
      checkSplit(t, batch, divUp(90, block) * block);
      checkSplit(t, {{1, 5, 40, 200}, 0, 6, 3, 1, pad, true, false}, divUp(100, block) * block);
    }
}

// A GroupNorm folded into the input transform (Conv2dIO::inputNorm): each input's values are
// normalised with their own channel's coefficients before the padding, whichever path loads them.
Case withNorm(Case c, bool silu) {
  c.norm = true;
  c.normSilu = silu;
  return c;
}

TEST_F(Conv2dWinogradTest, NormalisesItsInputOnLoad) {
  // Scalar loads (width 13, 38) and rows of four (12, 32, 36); one input and a concat (the second
  // input's coefficients follow the first's); batch; zero padding (which stays zero after the
  // normalisation) and circular.
  for (DType t : precisions())
    for (Padding pad : {Padding::Zeros, Padding::Circular})
      for (bool silu : {false, true}) {
        check(Conv2dVariant::Winograd, t, withNorm({{1, 13, 13, 5}, 0, 13, 3, 1, pad, true, false}, silu));
        check(Conv2dVariant::Winograd, t, withNorm({{3, 4, 7, 38}, 6, 11, 3, 1, pad, true, true, 0.5f}, silu));
        check(Conv2dVariant::Winograd, t, withNorm({{1, 5, 9, 12}, 0, 6, 3, 1, pad, false, false}, silu));
        check(Conv2dVariant::Winograd, t, withNorm({{3, 4, 7, 32}, 3, 9, 3, 1, pad, true, true, 0.5f}, silu));
      }
}

TEST_F(Conv2dWinogradTest, NormalisedInputSplitsToo) {
  // Blocks of images and bands of tile rows address the coefficients of their own images.
  for (DType t : precisions())
    for (uint64_t tiles : {96u, 32u})
      checkSplit(t, withNorm({{3, 5, 40, 36}, 3, 32, 3, 1, Padding::Circular, true, true, 0.5f}, true), tiles);
}

TEST_F(Conv2dWinogradTest, InputNormIsRefusedByVariantsWithoutIt) {
  const Case c = withNorm({{1, 4, 8, 8}, 0, 4, 3, 2, Padding::Zeros, true, false}, true);
  const Conv2d conv(GpuTest::gpu().facts, c.params(), DType::F32, Conv2dVariant::Subgroup);
  EXPECT_FALSE(conv.foldsInputNorm());
  std::mt19937_64 rng(freshSeed());
  try {
    (void)run(conv, c, randomData(c, DType::F32, rng), DType::F32);
    FAIL() << "the subgroup variant accepted an input normalisation";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("normalise"), std::string::npos) << e.what();
  }
}

TEST_F(Conv2dWinogradTest, RangeBelowOneTileRowIsRefused) {
  // Splitting goes down to one row of tiles; below that the layer says why instead of binding
  // past the range.
  const Case c{{1, 4, 8, 200}, 0, 4, 3, 1, Padding::Circular, true, false};
  vk::DeviceFacts lowered = GpuTest::gpu().facts;
  lowered.maxStorageBufferRange = 32 * bytesPerTile(c);  // a row is 50 tiles
  const Conv2d conv(lowered, c.params(), DType::F32, Conv2dVariant::Winograd);
  try {
    (void)conv.scratchBytes(c.in);
    FAIL() << "a range below one tile row was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("storage-buffer range"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tessera::test
