// The shader pipeline: embedded SPIR-V, reflection-derived layouts, and Program's checks.
#include <cstring>

#include "embedded_shaders.hpp"
#include "gpu_test.hpp"
#include "op_harness.hpp"

namespace tessera::test {
namespace {

class KernelTest : public GpuTest {};

std::vector<uint32_t> words(const shaders::Spirv& s) {
  std::vector<uint32_t> w(s.size / 4);
  std::memcpy(w.data(), s.bytes, s.size);
  return w;
}

TEST_F(KernelTest, EveryShaderIsEmbeddedInBothPrecisionsAsValidSpirv) {
  ASSERT_FALSE(shaders::all().empty());
  for (const shaders::Spirv& s : shaders::all()) {
    ASSERT_NE(shaders::find(s.name, !s.fp16), nullptr) << s.name << " lacks its other precision";
    ASSERT_EQ(s.size % 4, 0u) << s.name;
    EXPECT_EQ(words(s)[0], 0x07230203u) << s.name << " does not start with the SPIR-V magic";
  }
}

TEST_F(KernelTest, ReflectionReadsBindingsPushConstantsAndWorkgroupSize) {
  const shaders::Spirv* s = shaders::find("eltwise", false);
  ASSERT_NE(s, nullptr);
  vk::Reflection r = vk::reflect(words(*s), "eltwise");
  EXPECT_EQ(r.bindingCount, 3u);
  EXPECT_EQ(r.pushConstantSize, 16u);
  EXPECT_EQ(r.localSizeSpecId[0], 0u);
  EXPECT_EQ(r.localSize[1], 1u);
}

TEST_F(KernelTest, EveryShaderReflectsAndBuildsAPipeline) {
  for (const shaders::Spirv& s : shaders::all()) {
    if (s.fp16 && !gpu().facts.storage16) continue;
    vk::Reflection r = vk::reflect(words(s), std::string(s.name));
    EXPECT_LE(r.pushConstantSize, Program::kMaxPush) << s.name;
    EXPECT_LE(r.bindingCount, Program::kMaxBindings) << s.name;
    const vk::Kernel& k = kernels().get(std::string(s.name), s.fp16);
    EXPECT_NE(k.pipeline, VK_NULL_HANDLE) << s.name;
  }
}

TEST_F(KernelTest, CacheReturnsTheSamePipelineForTheSameKey) {
  const uint32_t a[] = {64}, b[] = {128};
  const vk::Kernel& k1 = kernels().get("eltwise", false, a);
  const vk::Kernel& k2 = kernels().get("eltwise", false, a);
  const vk::Kernel& k3 = kernels().get("eltwise", false, b);
  EXPECT_EQ(&k1, &k2);
  EXPECT_NE(&k1, &k3);
  EXPECT_EQ(k1.localSize[0], 64u);
  EXPECT_EQ(k3.localSize[0], 128u);
}

TEST_F(KernelTest, UnknownShaderAndUndeclaredConstantAreRefused) {
  expectError([] { kernels().get("no_such_op", false); }, ErrorCode::Unsupported, "no_such_op");
  const uint32_t spec[] = {64, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  expectError([&] { kernels().get("eltwise", false, spec); }, ErrorCode::InvalidArgument,
              "specialization constant");
}

TEST_F(KernelTest, ProgramRefusesWrongBindingsPushSizeAndMisalignedOffsets) {
  TensorPool pool(gpu(), 1 << 16);
  Tensor t = pool.make({1, 1, 8, 8}, DType::F32);
  const vk::Kernel& k = kernels().get("eltwise", false);
  Program prog(gpu());
  uint32_t push[4] = {64, 0, 0, 0};
  expectError([&] { prog.add(k, {t.ref, t.ref}, push, 1); }, ErrorCode::InvalidArgument, "2 buffers given");
  expectError([&] { prog.add(k, {t.ref, t.ref, t.ref}, &push, 8, 1); }, ErrorCode::InvalidArgument,
              "push constants of 8 bytes");
  if (gpu().facts.minStorageBufferOffsetAlignment > 1) {
    BufferRef bad = t.ref;
    bad.offset += 1;
    expectError([&] { prog.add(k, {bad, t.ref, t.ref}, push, 1); }, ErrorCode::InvalidArgument, "alignment");
  }
  expectError([&] { prog.add(k, {t.ref, t.ref, t.ref}, push, 0); }, ErrorCode::InvalidArgument,
              "workgroup count");
}

TEST_F(KernelTest, ProgramRecordsInSlicesWithTheSameResultAsWhole) {
  // Two chained dispatches recorded as two slices in two submissions equal one recording.
  TensorPool pool(gpu(), 1 << 16);
  Tensor a = pool.make({1, 1, 16, 16}, DType::F32), b = pool.make({1, 1, 16, 16}, DType::F32),
         c = pool.make({1, 1, 16, 16}, DType::F32);
  std::mt19937_64 rng(freshSeed());
  auto va = randomVector(rng, 256), vb = randomVector(rng, 256);
  pool.upload(a, va);
  pool.upload(b, vb);
  pool.poison(c);
  Program prog(gpu());
  uint32_t p1[4] = {256, 0, 0x3f800000u, 0x3f800000u};  // c = a + b
  uint32_t p2[4] = {256, 1, 0x40000000u, 0};             // c = 2 * c * b (in place)
  const vk::Kernel& k = kernels().get("eltwise", false);
  prog.add(k, {a.ref, b.ref, c.ref}, p1, 1);
  prog.add(k, {c.ref, b.ref, c.ref}, p2, 1);
  prog.finalize();
  vk::Submitter sub(gpu());
  sub.run([&](VkCommandBuffer cmd) { prog.record(cmd, 0, 1); });
  sub.run([&](VkCommandBuffer cmd) {
    prog.record(cmd, 1, 1);
    vk::barrierComputeToHost(gpu(), cmd);
  });
  std::vector<double> want(256);
  for (int i = 0; i < 256; ++i) want[i] = 2.0 * (double(va[i]) + vb[i]) * vb[i];
  expectClose(pool.download(c), want, DType::F32, "sliced program");
}

}  // namespace
}  // namespace tessera::test
