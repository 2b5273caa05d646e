// The arena on a device the test creates as a game would. tessera reaches that device only
// through a vkGetDeviceProcAddr that counts every call creating a Vulkan object, which proves
// how many allocations the arena makes at creation and that generating makes none.
#include "arena.hpp"

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <glm/gtc/packing.hpp>
#include <limits>
#include <new>
#include <type_traits>

#include "counting_vulkan.hpp"
#include "heap_counter.hpp"
#include "host_vulkan.hpp"
#include "memory_planner.hpp"
#include "op_harness.hpp"
#include "ops/eltwise.hpp"
#include "vk/buffer.hpp"

namespace tessera::test {
namespace {

// ---- The counting layer between tessera and the host's device functions (counting_vulkan.hpp).

using namespace counting;
uint64_t delta(const Counts& before, Counted id) { return counts()[id] - before[id]; }
// Objects made minus objects destroyed since `before` (from made()): what a failure left behind.
int64_t live(const Counts& before, Counted create, Counted destroy) {
  const Counts now = made();
  return int64_t(now[create] - before[create]) - int64_t(now[destroy] - before[destroy]);
}
int64_t liveBuffers(const Counts& before) { return live(before, CreateBuffer, DestroyBuffer); }
int64_t liveMemory(const Counts& before) { return live(before, AllocateMemory, FreeMemory); }

// ---- Fixture: the host's validated device, handed to tessera through the counting layer.

class ArenaTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    host_ = new HostVulkan(true);
    gRealGetDeviceProcAddr = host_->fn.vkGetDeviceProcAddr;
    device_ = runtime::Device::fromHost(host_->hostDevice(&counting::getDeviceProcAddr)).release();
    kernels_ = new vk::KernelCache(device_->gpu());
  }
  static void TearDownTestSuite() {
    delete kernels_;
    delete device_;
    delete host_;
  }

 protected:
  void SetUp() override { messagesAtStart_ = host_->messages().size(); }
  void TearDown() override {
    const auto m = host_->messages();
    for (std::size_t i = messagesAtStart_; i < m.size(); ++i) ADD_FAILURE() << "Vulkan validation: " << m[i];
  }
  static const vk::Gpu& gpu() { return device_->gpu(); }
  static std::vector<DType> precisions() {
    std::vector<DType> p{DType::F32};
    if (gpu().facts.storage16) p.push_back(DType::F16);
    return p;
  }

  static HostVulkan* host_;
  static runtime::Device* device_;
  static vk::KernelCache* kernels_;

 private:
  std::size_t messagesAtStart_ = 0;
};
HostVulkan* ArenaTest::host_ = nullptr;
runtime::Device* ArenaTest::device_ = nullptr;
vk::KernelCache* ArenaTest::kernels_ = nullptr;

VkDeviceSize alignUp(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

// Staging holds values in the tensor's storage type.
void writeStaging(const Arena& arena, VkDeviceSize offset, DType t, std::span<const float> v) {
  arena.region(ArenaRegion::Staging, offset, v.size() * dtypeSize(t));  // bounds check
  auto* base = static_cast<unsigned char*>(arena.stagingMapped()) + offset;
  if (t == DType::F32) {
    std::memcpy(base, v.data(), v.size_bytes());
  } else {
    for (std::size_t i = 0; i < v.size(); ++i) reinterpret_cast<uint16_t*>(base)[i] = glm::packHalf1x16(v[i]);
  }
  arena.flushStaging(offset, v.size() * dtypeSize(t));
}
std::vector<float> readStaging(const Arena& arena, VkDeviceSize offset, DType t, std::size_t n) {
  arena.region(ArenaRegion::Staging, offset, n * dtypeSize(t));  // bounds check
  arena.invalidateStaging(offset, n * dtypeSize(t));
  const auto* base = static_cast<const unsigned char*>(arena.stagingMapped()) + offset;
  std::vector<float> v(n);
  if (t == DType::F32) {
    std::memcpy(v.data(), base, n * 4);
  } else {
    for (std::size_t i = 0; i < n; ++i)
      v[i] = glm::unpackHalf1x16(reinterpret_cast<const uint16_t*>(base)[i]);
  }
  return v;
}

// A small graph on arena tensors, as a generator would build it: inputs x, y and a weight w
// uploaded through staging, five elementwise ops whose activations share memory by the plan,
// the result e in scratch, downloaded through staging.
//   op0 a = 0.7x - 1.3y   op1 b = 1.1 a w   op2 c = 0.5b + 2x   op3 d = -0.9 c c   op4 e = 1.5d - 0.25a
struct Graph {
  Shape4 shape;
  DType dtype;
  VkDeviceSize tensorBytes;  // rounded to the arena's alignment
  // Activations: x, y, a, b, c, d with their lifetimes in op order.
  static constexpr int kX = 0, kY = 1, kA = 2, kB = 3, kC = 4, kD = 5;
  std::vector<TensorLifetime> lifetimes;
  MemoryPlan plan;
  // Staging slots: x, y, w, e.
  VkDeviceSize stagingSlot(int i) const { return i * tensorBytes; }

  Graph(const vk::Gpu& gpu, Shape4 s, DType t) : shape(s), dtype(t) {
    const VkDeviceSize bytes = (s.count() * dtypeSize(t) + 3) / 4 * 4;
    tensorBytes = alignUp(bytes, Arena::offsetAlignment(gpu));
    lifetimes = {{bytes, 0, 2}, {bytes, 0, 0}, {bytes, 0, 4}, {bytes, 1, 2}, {bytes, 2, 3}, {bytes, 3, 4}};
    plan = planMemory(lifetimes, Arena::offsetAlignment(gpu));
  }
  ArenaSizes sizes() const { return {tensorBytes, plan.total, tensorBytes, 4 * tensorBytes}; }

  std::vector<double> reference(std::span<const float> x, std::span<const float> y,
                                std::span<const float> w) const {
    // The GPU stores every intermediate in the storage type; round the same way.
    auto st = [&](double v) { return double(roundTo(dtype, std::vector<float>{float(v)})[0]); };
    std::vector<double> e(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double a = st(0.7 * x[i] - 1.3 * y[i]);
      const double b = st(1.1 * a * w[i]);
      const double c = st(0.5 * b + 2.0 * x[i]);
      const double d = st(-0.9 * c * c);
      e[i] = 1.5 * d - 0.25 * a;
    }
    return e;
  }
};

struct Built {
  Tensor x, y, w, a, b, c, d, e;
};

Built buildProgram(const Graph& g, const Arena& arena, Program& prog, vk::KernelCache& kernels) {
  auto act = [&](int i) {
    return arena.tensor(ArenaRegion::Activations, g.plan.offsets[i], g.shape, g.dtype);
  };
  Built t{act(Graph::kX),
          act(Graph::kY),
          arena.tensor(ArenaRegion::Weights, 0, g.shape, g.dtype),
          act(Graph::kA),
          act(Graph::kB),
          act(Graph::kC),
          act(Graph::kD),
          arena.tensor(ArenaRegion::Scratch, 0, g.shape, g.dtype)};
  ops::axpby(prog, kernels, t.x, t.y, t.a, 0.7f, -1.3f);
  ops::mul(prog, kernels, t.a, t.w, t.b, 1.1f);
  ops::axpby(prog, kernels, t.b, t.x, t.c, 0.5f, 2.0f);
  ops::mul(prog, kernels, t.c, t.c, t.d, -0.9f);
  ops::axpby(prog, kernels, t.d, t.a, t.e, 1.5f, -0.25f);
  prog.finalize();
  return t;
}

// One generation: upload, poison the output, run, download.
void recordGeneration(const Graph& g, const Arena& arena, const Program& prog, const Built& t,
                      VkCommandBuffer cmd, VkDeviceSize poisonSlot) {
  auto slot = [&](int i, const Tensor& like) {
    return arena.region(ArenaRegion::Staging, g.stagingSlot(i), like.ref.size);
  };
  arena.recordCopy(cmd, slot(0, t.x), t.x.ref);
  arena.recordCopy(cmd, slot(1, t.y), t.y.ref);
  arena.recordCopy(cmd, slot(2, t.w), t.w.ref);
  arena.recordCopy(cmd, arena.region(ArenaRegion::Staging, poisonSlot, t.e.ref.size), t.e.ref);
  prog.record(cmd);
  arena.recordCopy(cmd, t.e.ref, slot(3, t.e));
}

TEST_F(ArenaTest, CreatesOneAllocationPerMemoryKindAndNoneWhileGenerating) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (DType dt : precisions()) {
    SCOPED_TRACE(dtypeName(dt));
    const Graph g(gpu(), {1, 13, 17, 9}, dt);
    ArenaSizes sizes = g.sizes();
    sizes.staging += g.tensorBytes;  // a fifth slot holding NaN, to poison the output each run
    const VkDeviceSize poisonSlot = 4 * g.tensorBytes;
    EXPECT_LT(g.plan.total, g.plan.naive) << "the plan should reuse memory in this graph";

    Counts before = counts();
    auto arena = Arena::create(gpu(), sizes);
    EXPECT_EQ(delta(before, AllocateMemory), arena->allocationCount()) << changes(before);
    EXPECT_GE(arena->allocationCount(), 1u);
    EXPECT_LE(arena->allocationCount(), 2u);  // one per memory kind at most
    EXPECT_EQ(delta(before, CreateBuffer), 2u) << changes(before);
    std::printf(
        "arena (%s): %u allocation(s); device block %llu bytes, staging block %llu bytes; "
        "activations planned %llu bytes, naive %llu\n",
        dtypeName(dt), arena->allocationCount(),
        static_cast<unsigned long long>(arena->requirements().device.size),
        static_cast<unsigned long long>(arena->requirements().staging.size),
        static_cast<unsigned long long>(g.plan.total), static_cast<unsigned long long>(g.plan.naive));

    before = counts();
    Program prog(gpu());
    const Built t = buildProgram(g, *arena, prog, *kernels_);
    EXPECT_EQ(delta(before, CreateDescriptorPool), 1u) << "the counting layer does not see tessera's calls";
    vk::Submitter submitter(gpu());
    const std::vector<float> nan(g.shape.count(), std::numeric_limits<float>::quiet_NaN());
    writeStaging(*arena, poisonSlot, dt, nan);

    const Counts baseline = counts();
    for (int run = 0; run < 5; ++run) {
      SCOPED_TRACE("run " + std::to_string(run));
      const auto x = roundTo(dt, randomVector(rng, g.shape.count()));
      const auto y = roundTo(dt, randomVector(rng, g.shape.count()));
      const auto w = roundTo(dt, randomVector(rng, g.shape.count()));
      writeStaging(*arena, g.stagingSlot(0), dt, x);
      writeStaging(*arena, g.stagingSlot(1), dt, y);
      writeStaging(*arena, g.stagingSlot(2), dt, w);
      submitter.run([&](VkCommandBuffer cmd) {
        recordGeneration(g, *arena, prog, t, cmd, poisonSlot);
        vk::barrierComputeToHost(gpu(), cmd);
      });
      expectClose(readStaging(*arena, g.stagingSlot(3), dt, g.shape.count()), g.reference(x, y, w), dt,
                  "arena graph");
    }
    for (int i = 0; i < kCounted; ++i)
      if (makesObjects(i)) {
        EXPECT_EQ(counts()[i], baseline[i]) << kNames[i] << " was called while generating";
      }
    std::printf("arena (%s): Vulkan object calls during 5 generations:%s\n", dtypeName(dt),
                changes(baseline).c_str());
  }
}

TEST_F(ArenaTest, RecordingAGenerationAllocatesNoHeapMemory) {
  // Without the validation layer, whose own bookkeeping allocates inside every vkCmd* call.
  HostVulkan plainHost(false);
  auto device = runtime::Device::fromHost(plainHost.hostDevice());
  vk::KernelCache kernels(device->gpu());
  const Graph g(device->gpu(), {1, 3, 31, 29}, DType::F32);
  ArenaSizes sizes = g.sizes();
  sizes.staging += g.tensorBytes;
  auto arena = Arena::create(device->gpu(), sizes);
  Program prog(device->gpu());
  const Built t = buildProgram(g, *arena, prog, kernels);
  vk::Submitter submitter(device->gpu());
  // The counter sees this binary's allocations (else the check below would prove nothing).
  uint64_t start = heap::allocations;
  heap::armed = true;
  auto probe = std::make_unique<std::string>(100, 'x');
  heap::armed = false;
  ASSERT_GT(heap::allocations - start, 0u) << *probe;
  uint64_t allocations = 0;
  for (int run = 0; run < 5; ++run)
    submitter.run([&](VkCommandBuffer cmd) {
      start = heap::allocations;
      heap::armed = true;
      recordGeneration(g, *arena, prog, t, cmd, 4 * g.tensorBytes);
      heap::armed = false;
      allocations += heap::allocations - start;
    });
  EXPECT_EQ(allocations, 0u) << "operator new called while recording";
}

TEST_F(ArenaTest, RegionsAreAlignedDisjointAndBoundsChecked) {
  const ArenaSizes sizes{1000, 3333, 77, 555};
  const auto arena = Arena::create(gpu(), sizes);
  const VkDeviceSize align = Arena::offsetAlignment(gpu());
  const ArenaRegion device[] = {ArenaRegion::Weights, ArenaRegion::Activations, ArenaRegion::Scratch};
  VkDeviceSize end = 0;
  for (ArenaRegion r : device) {
    const BufferRef ref = arena->region(r, 0, arena->capacity(r));
    EXPECT_EQ(ref.offset % align, 0u) << arenaRegionName(r);
    EXPECT_GE(ref.offset, end) << arenaRegionName(r) << " overlaps the region before it";
    end = ref.offset + ref.size;
    EXPECT_EQ(ref.buffer, arena->region(ArenaRegion::Weights, 0, 4).buffer);
  }
  EXPECT_LE(end, arena->requirements().device.size);
  const BufferRef staging = arena->region(ArenaRegion::Staging, 0, sizes.staging);
  EXPECT_NE(staging.buffer, arena->region(ArenaRegion::Weights, 0, 4).buffer);
  EXPECT_NE(arena->stagingMapped(), nullptr);
  const ArenaRequirements req = Arena::requiredBytes(gpu(), sizes);
  EXPECT_EQ(req.device.size, arena->requirements().device.size);
  EXPECT_EQ(req.staging.size, arena->requirements().staging.size);
  EXPECT_GE(req.staging.size, sizes.staging);
  EXPECT_EQ(req.staging.alignment % std::max<VkDeviceSize>(gpu().facts.nonCoherentAtomSize, 1), 0u);

  expectError([&] { arena->region(ArenaRegion::Activations, 0, 3334); }, ErrorCode::OutOfArena,
              "3334 bytes at offset 0 need 3334 bytes of the activations region, which holds 3333");
  expectError([&] { arena->region(ArenaRegion::Scratch, 64, 14); }, ErrorCode::OutOfArena,
              "need 78 bytes of the scratch region, which holds 77");
  expectError([&] { arena->region(ArenaRegion::Staging, UINT64_MAX - 3, 8); }, ErrorCode::OutOfArena,
              "need more than 2^64 bytes of the staging region");
  expectError(
      [&] {
        arena->tensor(ArenaRegion::Weights, 0, {1, 13, 5, 4}, DType::F32);
      },
      ErrorCode::OutOfArena, "need 1040 bytes of the weights region, which holds 1000");
  expectError([&] { arena->region(ArenaRegion::Weights, 8, 0); }, ErrorCode::InvalidArgument, "empty range");
}

TEST_F(ArenaTest, RefusesWhatTheDeviceCannotHoldAndLeavesNothingBehind) {
  VkDeviceSize heap = 0;
  for (uint32_t i = 0; i < gpu().memory.memoryHeapCount; ++i)
    heap = std::max(heap, gpu().memory.memoryHeaps[i].size);
  Counts before = made();
  // Past the largest heap: the device may refuse the buffer itself (lavapipe does at twice the
  // heap), else the arena refuses before allocating; either way the message names both sizes.
  const auto twiceTheHeap = [&] { Arena::create(gpu(), {heap, heap, 0, 4096}); };
  expectError(twiceTheHeap, ErrorCode::OutOfArena, " holds ");
  try {
    Arena::create(gpu(), {heap / 2, heap / 2 + 4096, 0, 4096});
    ADD_FAILURE() << "an arena larger than the device's memory was created";
  } catch (const Error& e) {
    std::printf("arena: refused as it should be: %s\n", e.what());
    EXPECT_EQ(e.code(), ErrorCode::OutOfArena);
    EXPECT_NE(std::string(e.what()).find(" holds "), std::string::npos) << e.what();
  }
  EXPECT_EQ(liveBuffers(before), 0) << changes(before, made());
  EXPECT_EQ(liveMemory(before), 0) << changes(before, made());

  // The device runs out of memory at the first or the second allocation, or of buffer memory at
  // the second buffer: every object made before the failure is destroyed.
  const ArenaSizes sizes{4096, 8192, 256, 4096};
  for (Counted fn : {AllocateMemory, CreateBuffer})
    for (uint32_t nth : {1u, 2u}) {
      SCOPED_TRACE(std::string(kNames[fn]) + " fails at call " + std::to_string(nth));
      before = made();
      gFailIn[fn] = nth;
      std::unique_ptr<Arena> arena;
      try {
        arena = Arena::create(gpu(), sizes);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::OutOfArena) << e.what();
        EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
      }
      const bool injected = gFailIn[fn] == 0;
      gFailIn[fn] = 0;
      if (arena) {
        // Fewer calls than `nth` were made (one allocation on unified memory): nothing failed.
        EXPECT_FALSE(injected);
        arena.reset();
      } else {
        EXPECT_TRUE(injected);
      }
      EXPECT_EQ(liveBuffers(before), 0) << changes(before, made());
      EXPECT_EQ(liveMemory(before), 0) << changes(before, made());
    }
}

TEST_F(ArenaTest, FlushesWholeAtomsWhereMemoryIsNotCoherent) {
  // The same device, described as if no memory type were host-coherent and flushes had to be
  // whole 256-byte atoms (a multiple of the real atom, so every range stays valid for the real
  // device, whose validation layer checks them).
  vk::Gpu nonCoherent = gpu();
  for (uint32_t i = 0; i < nonCoherent.memory.memoryTypeCount; ++i)
    nonCoherent.memory.memoryTypes[i].propertyFlags &= ~VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  nonCoherent.facts.nonCoherentAtomSize = std::max<uint64_t>(256, gpu().facts.nonCoherentAtomSize);
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Graph g(nonCoherent, {1, 13, 7, 5}, DType::F32);  // 1820-byte tensors: not whole atoms
  ArenaSizes sizes = g.sizes();
  sizes.staging = 4 * g.tensorBytes + g.shape.count() * 4;  // ends within an atom too
  auto arena = Arena::create(nonCoherent, sizes);
  EXPECT_EQ(arena->requirements().staging.size % 256, 0u);
  Program prog(nonCoherent);
  const Built t = buildProgram(g, *arena, prog, *kernels_);
  vk::Submitter submitter(gpu());
  const Counts before = counts();
  writeStaging(*arena, 4 * g.tensorBytes, g.dtype, std::vector<float>(g.shape.count(), NAN));
  const auto x = randomVector(rng, g.shape.count()), y = randomVector(rng, g.shape.count()),
             w = randomVector(rng, g.shape.count());
  writeStaging(*arena, g.stagingSlot(0), g.dtype, x);
  writeStaging(*arena, g.stagingSlot(1), g.dtype, y);
  writeStaging(*arena, g.stagingSlot(2), g.dtype, w);
  submitter.run([&](VkCommandBuffer cmd) {
    recordGeneration(g, *arena, prog, t, cmd, 4 * g.tensorBytes);
    vk::barrierComputeToHost(gpu(), cmd);
  });
  expectClose(readStaging(*arena, g.stagingSlot(3), g.dtype, g.shape.count()), g.reference(x, y, w), g.dtype,
              "graph with flushed staging");
  EXPECT_EQ(delta(before, FlushMappedMemoryRanges), 4u);
  EXPECT_EQ(delta(before, InvalidateMappedMemoryRanges), 1u);
}

// The host's memory for both blocks: one VkDeviceMemory when a type suits both, else two.
struct HostBlocks {
  HostVulkan& host;
  VkDeviceMemory memory[2] = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  HostMemoryBlock device, staging;

  HostBlocks(HostVulkan& h, const ArenaRequirements& req, VkDeviceSize deviceOffset) : host(h) {
    auto typeFor = [&](uint32_t bits, VkMemoryPropertyFlags need) {
      for (uint32_t i = 0; i < h.memory.memoryTypeCount; ++i)
        if ((bits & (1u << i)) && (h.memory.memoryTypes[i].propertyFlags & need) == need) return int(i);
      return -1;
    };
    const int shared =
        typeFor(req.device.memoryTypeBits & req.staging.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    device.offset = deviceOffset;
    device.size = req.device.size;
    if (shared >= 0) {
      staging.offset = alignUp(device.offset + device.size, req.staging.alignment);
      staging.size = req.staging.size;
      device.memoryTypeIndex = staging.memoryTypeIndex = uint32_t(shared);
      device.memory = staging.memory = allocate(0, staging.offset + staging.size, shared);
    } else {
      device.memoryTypeIndex = uint32_t(typeFor(req.device.memoryTypeBits, 0));
      staging.memoryTypeIndex =
          uint32_t(typeFor(req.staging.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT));
      staging.size = req.staging.size;
      device.memory = allocate(0, device.offset + device.size, int(device.memoryTypeIndex));
      staging.memory = allocate(1, staging.size, int(staging.memoryTypeIndex));
    }
  }
  ~HostBlocks() {
    for (VkDeviceMemory m : memory)
      if (m) host.fn.vkFreeMemory(host.device, m, nullptr);
  }
  VkDeviceMemory allocate(int slot, VkDeviceSize bytes, int type) {
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = bytes;
    ai.memoryTypeIndex = uint32_t(type);
    EXPECT_EQ(host.fn.vkAllocateMemory(host.device, &ai, nullptr, &memory[slot]), VK_SUCCESS);
    return memory[slot];
  }
};

TEST_F(ArenaTest, RunsInHostProvidedMemory) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Graph g(gpu(), {1, 3, 31, 29}, DType::F32);
  ArenaSizes sizes = g.sizes();
  sizes.staging += g.tensorBytes;
  const ArenaRequirements req = Arena::requiredBytes(gpu(), sizes);
  // Two ways a host lends staging: it lets the arena map it, or it keeps it mapped itself.
  for (bool hostMaps : {false, true}) {
    SCOPED_TRACE(hostMaps ? "host maps staging" : "arena maps staging");
    // A block that does not start at the memory's first byte, to prove the offset is honoured.
    HostBlocks blocks(*host_, req, 3 * req.device.alignment);
    void* hostMapping = nullptr;
    if (hostMaps) {
      ASSERT_EQ(
          host_->fn.vkMapMemory(host_->device, blocks.staging.memory, 0, VK_WHOLE_SIZE, 0, &hostMapping),
          VK_SUCCESS);
      blocks.staging.mapped = static_cast<unsigned char*>(hostMapping) + blocks.staging.offset;
    }
    const Counts before = counts();
    auto arena = Arena::createInHostMemory(gpu(), sizes, blocks.device, blocks.staging);
    EXPECT_EQ(delta(before, AllocateMemory), 0u) << "the arena allocated although the host provided memory";
    EXPECT_EQ(arena->allocationCount(), 0u);
    if (hostMaps) {
      EXPECT_EQ(arena->stagingMapped(), blocks.staging.mapped);
    }

    Program prog(gpu());
    const Built t = buildProgram(g, *arena, prog, *kernels_);
    vk::Submitter submitter(gpu());
    writeStaging(*arena, 4 * g.tensorBytes, g.dtype, std::vector<float>(g.shape.count(), NAN));
    const auto x = randomVector(rng, g.shape.count()), y = randomVector(rng, g.shape.count()),
               w = randomVector(rng, g.shape.count());
    writeStaging(*arena, g.stagingSlot(0), g.dtype, x);
    writeStaging(*arena, g.stagingSlot(1), g.dtype, y);
    writeStaging(*arena, g.stagingSlot(2), g.dtype, w);
    submitter.run([&](VkCommandBuffer cmd) {
      recordGeneration(g, *arena, prog, t, cmd, 4 * g.tensorBytes);
      vk::barrierComputeToHost(gpu(), cmd);
    });
    expectClose(readStaging(*arena, g.stagingSlot(3), g.dtype, g.shape.count()), g.reference(x, y, w),
                g.dtype, "graph in host memory");
    arena.reset();
    if (hostMaps) host_->fn.vkUnmapMemory(host_->device, blocks.staging.memory);
  }
}

TEST_F(ArenaTest, RefusesUnsuitableHostBlocks) {
  const ArenaSizes sizes{4096, 10000, 512, 2048};
  const ArenaRequirements req = Arena::requiredBytes(gpu(), sizes);
  HostBlocks blocks(*host_, req, 0);
  const Counts before = made();
  auto refuse = [&](HostMemoryBlock device, HostMemoryBlock staging, ErrorCode code,
                    const std::string& needle) {
    expectError([&] { Arena::createInHostMemory(gpu(), sizes, device, staging); }, code, needle);
    EXPECT_EQ(liveBuffers(before), 0) << "a refused arena left buffers behind:" << changes(before, made());
  };

  HostMemoryBlock small = blocks.device;
  small.size = req.device.size - 1;
  refuse(small, blocks.staging, ErrorCode::OutOfArena,
         "device block holds " + std::to_string(req.device.size - 1) + " bytes; the arena needs " +
             std::to_string(req.device.size));
  HostMemoryBlock smallStaging = blocks.staging;
  smallStaging.size = req.staging.size / 2;
  refuse(blocks.device, smallStaging, ErrorCode::OutOfArena, "staging block holds");

  if (req.device.alignment > 1) {
    HostMemoryBlock misaligned = blocks.device;
    misaligned.offset += req.device.alignment / 2;
    refuse(misaligned, blocks.staging, ErrorCode::InvalidArgument,
           "not a multiple of the required alignment " + std::to_string(req.device.alignment));
  }

  HostMemoryBlock noSuchType = blocks.device;
  noSuchType.memoryTypeIndex = gpu().memory.memoryTypeCount;
  refuse(noSuchType, blocks.staging, ErrorCode::InvalidArgument,
         "memory type " + std::to_string(gpu().memory.memoryTypeCount) +
             ", which the arena's buffer cannot use");
  for (uint32_t i = 0; i < gpu().memory.memoryTypeCount; ++i) {
    const bool visible = gpu().memory.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    if (!(req.staging.memoryTypeBits & (1u << i)) || visible) continue;
    HostMemoryBlock wrongKind = blocks.staging;
    wrongKind.memoryTypeIndex = i;  // a device-only type for staging
    refuse(blocks.device, wrongKind, ErrorCode::InvalidArgument, "not host-visible");
  }

  if (blocks.device.memory == blocks.staging.memory) {
    HostMemoryBlock overlapping = blocks.staging;
    overlapping.offset = 0;
    refuse(blocks.device, overlapping, ErrorCode::InvalidArgument, "overlap");
  }
  HostMemoryBlock none = blocks.device;
  none.memory = VK_NULL_HANDLE;
  refuse(none, blocks.staging, ErrorCode::InvalidArgument, "has no VkDeviceMemory");
  EXPECT_EQ(made()[AllocateMemory], before[AllocateMemory]);
}

}  // namespace
}  // namespace tessera::test
