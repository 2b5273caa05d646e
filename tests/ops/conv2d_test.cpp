// The conv2d op's contract (shapes, errors, variant choice) and its direct variant.
#include "conv2d_check.hpp"

namespace tessera::test {
namespace {

using namespace conv;

class Conv2dTest : public GpuTest {};

TEST_F(Conv2dTest, DirectMatchesReference) {
  for (DType t : precisions())
    for (const Case& c : matrix(true, true)) check(Conv2dVariant::Direct, t, c);
}

TEST_F(Conv2dTest, DirectPadAfterOnlyMatchesReference) {
  for (DType t : precisions())
    for (const Case& c : padAfterMatrix()) check(Conv2dVariant::Direct, t, c);
}

TEST_F(Conv2dTest, DirectCircularPaddingCommutesWithRoll) {
  for (DType t : precisions())
    checkRollProperty(Conv2dVariant::Direct, t, {{2, 3, 6, 11}, 0, 5, 3, 1, Padding::Circular}, 4);
}

// One layer serves tileable and plain requests: the padding asked per dispatch wins over the
// layer's, in every variant this device runs.
TEST_F(Conv2dTest, PaddingPerDispatchOverridesTheLayers) {
  for (Conv2dVariant v : {Conv2dVariant::Direct, Conv2dVariant::Subgroup, Conv2dVariant::Winograd})
    for (Padding pad : {Padding::Zeros, Padding::Circular}) {
      Case c{{2, 5, 9, 12}, 0, 7, 3, 1, pad};
      c.overridePadding = true;
      bool runs = true;
      try {
        Conv2d probe(gpu().facts, c.params(), DType::F32, v);
      } catch (const Error&) {
        runs = false;  // a variant this device cannot run
      }
      if (runs) check(v, DType::F32, c);
    }
}

TEST_F(Conv2dTest, OutputShapeFollowsPyTorch) {
  const auto& f = gpu().facts;
  // Conv2d(k=3, stride=2, padding=1): floor((H + 2 - 3) / 2) + 1.
  EXPECT_EQ(Conv2d(f, {.inChannels = 8, .outChannels = 4, .kernel = 3, .stride = 2}, DType::F32)
                .outputShape({1, 8, 17, 16}),
            (Shape4{1, 4, 9, 8}));
  EXPECT_EQ(Conv2d(f, {.inChannels = 8, .outChannels = 4, .kernel = 3, .stride = 1}, DType::F32)
                .outputShape({2, 8, 7, 9}),
            (Shape4{2, 4, 7, 9}));
  EXPECT_EQ(Conv2d(f, {.inChannels = 8, .outChannels = 4, .kernel = 1, .stride = 2}, DType::F32)
                .outputShape({1, 8, 7, 8}),
            (Shape4{1, 4, 4, 4}));
  // diffusers' Downsample2D(padding=0): F.pad(x, (0, 1, 0, 1)), then Conv2d(k=3, stride=2,
  // padding=0): floor((H + 1 - 3) / 2) + 1.
  const Conv2dParams after{.inChannels = 8, .outChannels = 4, .kernel = 3, .stride = 2,
                           .padPlacement = PadPlacement::After};
  EXPECT_EQ(Conv2d(f, after, DType::F32).outputShape({1, 8, 17, 16}), (Shape4{1, 4, 8, 8}));
  EXPECT_EQ(Conv2d(f, after, DType::F32).outputShape({1, 8, 7, 8}), (Shape4{1, 4, 3, 4}));
}

TEST_F(Conv2dTest, AutoPicksARunnableVariant) {
  const auto& f = gpu().facts;
  for (uint32_t k : {1u, 3u})
    for (uint32_t s : {1u, 2u}) {
      const Conv2d conv(f, {.inChannels = 16, .outChannels = 16, .kernel = k, .stride = s}, DType::F32);
      EXPECT_NE(conv.variant(), Conv2dVariant::Auto);
      if (conv.variant() == Conv2dVariant::Winograd) {
        EXPECT_TRUE(k == 3 && s == 1);
      }
    }
}

TEST_F(Conv2dTest, ChoosesByDeviceFacts) {
  vk::DeviceFacts cpu;
  cpu.type = VK_PHYSICAL_DEVICE_TYPE_CPU;
  cpu.subgroupSize = 8;
  cpu.subgroupBasic = cpu.subgroupBallot = cpu.subgroupShuffle = true;
  cpu.maxWorkgroupInvocations = 1024;
  cpu.maxSharedMemory = 32768;
  vk::DeviceFacts gpu = cpu;
  gpu.type = VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;
  gpu.subgroupSize = 32;
  vk::DeviceFacts small = gpu;
  small.maxSharedMemory = 16384;
  vk::DeviceFacts plain = cpu;
  plain.subgroupShuffle = false;
  auto pick = [](const vk::DeviceFacts& f, uint32_t k, uint32_t s) {
    return Conv2d::choose(
        f, {.inChannels = 64, .outChannels = 64, .kernel = k, .stride = s, .padding = Padding::Circular},
        DType::F32);
  };
  EXPECT_EQ(pick(cpu, 3, 1), Conv2dVariant::Winograd);
  EXPECT_EQ(pick(cpu, 1, 1), Conv2dVariant::Pointwise);
  EXPECT_EQ(pick(cpu, 3, 2), Conv2dVariant::Subgroup);
  EXPECT_EQ(pick(cpu, 1, 2), Conv2dVariant::Subgroup);
  EXPECT_EQ(pick(gpu, 3, 1), Conv2dVariant::Tiled);
  EXPECT_EQ(pick(gpu, 3, 2), Conv2dVariant::Tiled);
  EXPECT_EQ(pick(small, 3, 1), Conv2dVariant::Direct);
  EXPECT_EQ(pick(plain, 3, 1), Conv2dVariant::Direct);
  // Winograd pads both sides only: a 3x3 stride-1 layer padded after only takes the subgroup one.
  EXPECT_EQ(Conv2d::choose(cpu,
                           {.inChannels = 64, .outChannels = 64, .kernel = 3, .stride = 1,
                            .padPlacement = PadPlacement::After},
                           DType::F32),
            Conv2dVariant::Subgroup);
}

TEST_F(Conv2dTest, RefusesWinogradForStride2Or1x1) {
  expectError(
      [&] {
        Conv2d(gpu().facts, {.inChannels = 8, .outChannels = 8, .kernel = 3, .stride = 2}, DType::F32,
               Conv2dVariant::Winograd);
      },
      ErrorCode::InvalidArgument, "Winograd variant needs a 3x3 kernel with stride 1");
  expectError(
      [&] {
        Conv2d(gpu().facts, {.inChannels = 8, .outChannels = 8, .kernel = 1, .stride = 1}, DType::F32,
               Conv2dVariant::Winograd);
      },
      ErrorCode::InvalidArgument, "Winograd variant needs a 3x3 kernel with stride 1");
}

TEST_F(Conv2dTest, RefusesPadAfterOnlyInWinogradPointwiseAnd1x1) {
  auto after = [](uint32_t k, uint32_t s) {
    return Conv2dParams{
        .inChannels = 8, .outChannels = 8, .kernel = k, .stride = s, .padPlacement = PadPlacement::After};
  };
  for (uint32_t s : {1u, 2u})
    expectError([&] { Conv2d(gpu().facts, after(3, s), DType::F32, Conv2dVariant::Winograd); },
                ErrorCode::InvalidArgument, "Winograd variant pads both sides only; pad placement 'after' needs");
  expectError([&] { Conv2d(gpu().facts, after(3, 1), DType::F32, Conv2dVariant::Pointwise); },
              ErrorCode::InvalidArgument, "pointwise variant pads both sides only; pad placement 'after' needs");
  for (Conv2dVariant v : {Conv2dVariant::Auto, Conv2dVariant::Pointwise, Conv2dVariant::Direct})
    expectError([&] { Conv2d(gpu().facts, after(1, 1), DType::F32, v); }, ErrorCode::InvalidArgument,
                "pad placement 'after' applies to a 3x3 kernel");
}

TEST_F(Conv2dTest, RefusesBadParameters) {
  expectError(
      [&] { Conv2d(gpu().facts, {.inChannels = 8, .outChannels = 8, .kernel = 5, .stride = 1}, DType::F32); },
      ErrorCode::InvalidArgument, "kernel must be 1 or 3");
  expectError(
      [&] { Conv2d(gpu().facts, {.inChannels = 8, .outChannels = 8, .kernel = 3, .stride = 3}, DType::F32); },
      ErrorCode::InvalidArgument, "stride must be 1 or 2");
  expectError(
      [&] {
        Conv2d(gpu().facts, {.inChannels = 8, .in2Channels = 8, .outChannels = 8, .kernel = 3, .stride = 1},
               DType::F32);
      },
      ErrorCode::InvalidArgument, "must leave channels for the first input");
  const Conv2d conv(gpu().facts, {.inChannels = 8, .outChannels = 4, .kernel = 3, .stride = 1}, DType::F32);
  std::vector<float> w(4 * 8 * 9 - 1), b(4);
  expectError([&] { conv.packWeights(w, b); }, ErrorCode::InvalidArgument, "[out][in][k][k] needs 288");
}

// Records a call with one thing wrong and expects the error that names it.
void expectRecordError(const Conv2d& conv, Shape4 in, uint32_t in2Channels, std::size_t weightCount,
                       const std::string& needle) {
  const vk::Gpu& g = GpuTest::gpu();
  TensorPool pool(g, 1 << 20);
  Conv2dIO io;
  io.in = pool.make(in, DType::F32);
  Tensor in2 = pool.make({in.n, in2Channels ? in2Channels : 1, in.h, in.w}, DType::F32);
  if (in2Channels) io.in2 = &in2;
  io.weights = pool.make({1, 1, 1, uint32_t(weightCount)}, DType::F32);
  io.out = pool.make(conv.outputShape(in), DType::F32);
  Tensor scr = pool.make({1, 1, 1, uint32_t(conv.scratchBytes(in) / 4 + 1)}, DType::F32);
  io.scratch = &scr;
  Program prog(g);
  expectError([&] { conv.record(prog, GpuTest::kernels(), io); }, ErrorCode::InvalidArgument, needle);
}

TEST_F(Conv2dTest, RefusesMismatchedCalls) {
  const Conv2d conv(gpu().facts, {.inChannels = 12, .outChannels = 8, .kernel = 3, .stride = 1}, DType::F32);
  const Conv2d concat(gpu().facts,
                      {.inChannels = 12, .in2Channels = 4, .outChannels = 8, .kernel = 3, .stride = 1},
                      DType::F32);
  const std::size_t n = conv.packedWeightCount();
  expectRecordError(conv, {1, 13, 8, 8}, 0, n, "has 13 channels, the layer reads 12");
  expectRecordError(conv, {1, 12, 8, 8}, 0, n + 1, "weights tensor holds");
  expectRecordError(conv, {1, 12, 8, 8}, 4, n, "a second input was given");
  expectRecordError(concat, {1, 8, 8, 8}, 0, concat.packedWeightCount(),
                    "reads a second input but none was given");
  expectRecordError(concat, {1, 8, 8, 8}, 5, concat.packedWeightCount(), "does not match the first");
}

}  // namespace
}  // namespace tessera::test
