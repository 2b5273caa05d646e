// Memory through the public API, on a host's device that tessera reaches only through a
// vkGetDeviceProcAddr counting every call that creates a Vulkan object: the figures of
// tsr_query_memory, a generator living in memory the host allocated, requests the arena cannot
// hold or that are malformed (refused clearly, the generator unharmed), STRICT_SHAPES, and the
// central promise: once created, generating prepared shapes creates and allocates nothing.
#include <atomic>
#include <cstdlib>
#include <new>
#include <random>

#include "api_fixtures.hpp"
#include "heap_counter.hpp"

namespace tessera::test::api {
namespace {

using counting::Counts;

class ApiMemoryTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    host_ = std::make_unique<HostVulkan>(true);
    counting::gRealGetDeviceProcAddr = host_->fn.vkGetDeviceProcAddr;
    submitter_ = std::make_unique<HostSubmitter>(*host_);
    context_ = std::make_unique<ContextPtr>(hostContext(*host_, &counting::getDeviceProcAddr));
    model_ = std::make_unique<ModelPtr>(loadDefaultModel());
  }
  static void TearDownTestSuite() {
    model_.reset();
    context_.reset();
    submitter_.reset();
    host_.reset();
  }

 protected:
  void SetUp() override {
    messages_ = host_->messages().size();
    seed_ = freshSeed();
    rng_.seed(seed_);
  }
  void TearDown() override {
    const auto m = host_->messages();
    for (std::size_t i = messages_; i < m.size(); ++i) ADD_FAILURE() << "Vulkan validation: " << m[i];
  }
  static tsr_context context() { return context_->get(); }
  static tsr_model model() { return model_->get(); }
  static HostVulkan& host() { return *host_; }
  static HostSubmitter& submitter() { return *submitter_; }
  uint64_t seed() { return rng_() >> 1; }

  static tsr_memory_requirements query(const GeneratorSpec& spec) {
    const tsr_generator_desc d = spec.desc();
    tsr_memory_requirements r;
    tsr_memory_requirements_defaults(&r);
    const tsr_result res = tsr_query_memory(context(), model(), &d, &r);
    EXPECT_EQ(res, TSR_SUCCESS) << describe(res);
    return r;
  }
  static Outcome create(const GeneratorSpec& spec, GeneratorPtr& out) {
    const tsr_generator_desc d = spec.desc();
    tsr_generator g = nullptr;
    const Outcome o = outcome(tsr_generator_create(context(), model(), &d, &g));
    out.reset(g);
    return o;
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;

 private:
  static inline std::unique_ptr<HostVulkan> host_;
  static inline std::unique_ptr<HostSubmitter> submitter_;
  static inline std::unique_ptr<ContextPtr> context_;
  static inline std::unique_ptr<ModelPtr> model_;
  std::size_t messages_ = 0;
};

#define TRACE_SEED() SCOPED_TRACE("test seed " + std::to_string(seed_) + " (TESSERA_TEST_SEED reproduces it)")

bool powerOfTwo(uint64_t v) { return v && !(v & (v - 1)); }

TEST_F(ApiMemoryTest, QueryMemoryFiguresAddUpAndGrowWithTheMaxima) {
  tsr_model_info info;
  tsr_model_info_defaults(&info);
  TSR_ASSERT_OK(tsr_model_get_info(model(), &info));

  const Counts before = counting::counts();
  const tsr_memory_requirements base = query({16, 16, 1});
  EXPECT_EQ(counting::counts()[counting::AllocateMemory], before[counting::AllocateMemory])
      << "a query allocates nothing";
  // It may make buffers to learn their memory requirements, but keeps none.
  EXPECT_EQ(counting::counts()[counting::CreateBuffer] - before[counting::CreateBuffer],
            counting::counts()[counting::DestroyBuffer] - before[counting::DestroyBuffer])
      << "a query left buffers behind:" << counting::changes(before);
  EXPECT_EQ(base.struct_size, sizeof(base));
  EXPECT_GE(base.device_bytes, base.weight_bytes + base.activation_bytes + base.sampler_bytes);
  EXPECT_GT(base.weight_bytes, 0u);
  EXPECT_GT(base.activation_bytes, 0u);
  EXPECT_GT(base.sampler_bytes, 0u);
  EXPECT_GT(base.staging_bytes, 0u);
  EXPECT_TRUE(powerOfTwo(base.device_alignment)) << base.device_alignment;
  EXPECT_TRUE(powerOfTwo(base.staging_alignment)) << base.staging_alignment;
  EXPECT_NE(base.device_memory_type_bits, 0u);
  bool visible = false;
  for (uint32_t i = 0; i < host().memory.memoryTypeCount; ++i)
    if ((base.staging_memory_type_bits & (1u << i)) &&
        (host().memory.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
      visible = true;
  EXPECT_TRUE(visible) << "staging can live in host-visible memory";

  const tsr_memory_requirements bigger = query({32, 32, 1}), batch = query({16, 16, 2});
  EXPECT_EQ(bigger.weight_bytes, base.weight_bytes);
  EXPECT_GT(bigger.activation_bytes, base.activation_bytes);
  EXPECT_GT(bigger.sampler_bytes, base.sampler_bytes);
  EXPECT_GT(bigger.device_bytes, base.device_bytes);
  EXPECT_GE(bigger.staging_bytes, base.staging_bytes);
  EXPECT_EQ(batch.weight_bytes, base.weight_bytes);
  EXPECT_GT(batch.activation_bytes, base.activation_bytes);
  EXPECT_GT(batch.sampler_bytes, base.sampler_bytes);
  EXPECT_GT(batch.device_bytes, base.device_bytes);
  EXPECT_GE(batch.staging_bytes, base.staging_bytes);
  // Staging has a floor (the weights go up through it in pieces); host-memory outputs of a
  // large batch outgrow it.
  const tsr_memory_requirements large = query({128, 128, 8});
  EXPECT_GT(large.staging_bytes, base.staging_bytes);
  EXPECT_GE(large.staging_bytes, 8u * 128 * 128 * 8) << "room for 8 RGBA16F outputs";

  GeneratorSpec noGuidance{32, 32, 1};
  noGuidance.flags = TSR_GENERATOR_NO_GUIDANCE;
  const tsr_memory_requirements ng = query(noGuidance);
  EXPECT_LT(ng.activation_bytes, bigger.activation_bytes) << "no null-class batch to hold";
  EXPECT_LT(ng.device_bytes, bigger.device_bytes);
  EXPECT_EQ(ng.weight_bytes, bigger.weight_bytes);

  // Weights as fp32 take 4 bytes a parameter; fp16 storage (where the host enabled it) half that.
  GeneratorSpec fp32{16, 16, 1};
  fp32.precision = TSR_PRECISION_FP32;
  const tsr_memory_requirements w32 = query(fp32);
  EXPECT_GE(w32.weight_bytes, 4 * info.parameter_count);
  if (host().storage16) {
    GeneratorSpec fp16 = fp32;
    fp16.precision = TSR_PRECISION_FP16;
    const tsr_memory_requirements w16 = query(fp16);
    EXPECT_GE(w16.weight_bytes, 2 * info.parameter_count);
    EXPECT_LT(w16.weight_bytes, w32.weight_bytes);
    EXPECT_LT(w16.activation_bytes, w32.activation_bytes);
    std::printf("weights in the arena: fp32 %llu bytes, fp16 %llu bytes (%llu parameters)\n",
                (unsigned long long)w32.weight_bytes, (unsigned long long)w16.weight_bytes,
                (unsigned long long)info.parameter_count);
  }
  // AUTO is fp16 storage where the context has it, else fp32.
  const tsr_memory_requirements autoPrecision = query({16, 16, 1});
  GeneratorSpec expected{16, 16, 1};
  expected.precision = host().storage16 ? TSR_PRECISION_FP16 : TSR_PRECISION_FP32;
  EXPECT_EQ(autoPrecision.device_bytes, query(expected).device_bytes);
  // max 0 means the model's native size.
  GeneratorSpec native{0, 0, 1}, explicitNative{info.native_size, info.native_size, 1};
  const tsr_memory_requirements a = query(native), b = query(explicitNative);
  EXPECT_EQ(a.device_bytes, b.device_bytes);
  EXPECT_EQ(a.staging_bytes, b.staging_bytes);

  std::printf(
      "query 16x16: device %llu (weights %llu, activations %llu, sampler %llu), staging %llu bytes; "
      "32x32: activations %llu, without guidance %llu (%.2f)\n",
      (unsigned long long)base.device_bytes, (unsigned long long)base.weight_bytes,
      (unsigned long long)base.activation_bytes, (unsigned long long)base.sampler_bytes,
      (unsigned long long)base.staging_bytes, (unsigned long long)bigger.activation_bytes,
      (unsigned long long)ng.activation_bytes, double(ng.activation_bytes) / double(bigger.activation_bytes));
}

// The host's memory for a generator: the device block at a non-zero offset of a larger
// allocation (a device-local type when one suits), staging in a host-visible allocation.
struct HostBlocks {
  HostVulkan& host;
  VkDeviceMemory device = VK_NULL_HANDLE, staging = VK_NULL_HANDLE;
  tsr_memory_block deviceBlock{}, stagingBlock{};
  void* mapping = nullptr;

  HostBlocks(HostVulkan& h, const tsr_memory_requirements& req, bool hostMaps) : host(h) {
    int dt = hostMemoryType(h, req.device_memory_type_bits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (dt < 0) dt = hostMemoryType(h, req.device_memory_type_bits, 0);
    const int st = hostMemoryType(h, req.staging_memory_type_bits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT);
    EXPECT_GE(dt, 0);
    EXPECT_GE(st, 0);
    deviceBlock.offset = 2 * req.device_alignment;
    deviceBlock.size = req.device_bytes;
    deviceBlock.memory_type_index = uint32_t(dt);
    device = deviceBlock.memory = hostAllocate(h, deviceBlock.offset + req.device_bytes + 4096, uint32_t(dt));
    stagingBlock.offset = 0;
    stagingBlock.size = req.staging_bytes;
    stagingBlock.memory_type_index = uint32_t(st);
    staging = stagingBlock.memory = hostAllocate(h, req.staging_bytes, uint32_t(st));
    if (hostMaps) {
      EXPECT_EQ(h.fn.vkMapMemory(h.device, staging, 0, VK_WHOLE_SIZE, 0, &mapping), VK_SUCCESS);
      stagingBlock.mapped = mapping;
    }
  }
  ~HostBlocks() {
    if (mapping) host.fn.vkUnmapMemory(host.device, staging);
    host.fn.vkFreeMemory(host.device, device, nullptr);
    host.fn.vkFreeMemory(host.device, staging, nullptr);
  }
};

TEST_F(ApiMemoryTest, GeneratorInHostMemoryAllocatesNothingAndGivesTheSameBytes) {
  TRACE_SEED();
  GeneratorSpec spec{16, 16, 1};
  spec.prepared = {{16, 16, 1}};
  const tsr_memory_requirements req = query(spec);
  std::vector<tsr_request> requests = {request(16, 16, seed(), 3, 2), request(16, 16, seed(), 8, 1)};
  requests[1].output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
  std::vector<std::vector<uint8_t>> want;
  {
    GeneratorPtr own = makeGenerator(context(), model(), spec);
    for (const tsr_request& r : requests) want.push_back(generateOne(own.get(), r));
  }
  for (bool hostMaps : {false, true}) {
    SCOPED_TRACE(hostMaps ? "the host maps staging" : "tessera maps staging");
    HostBlocks blocks(host(), req, hostMaps);
    GeneratorSpec inHost = spec;
    inHost.deviceMemory = &blocks.deviceBlock;
    inHost.stagingMemory = &blocks.stagingBlock;
    const Counts before = counting::counts();
    GeneratorPtr g = noGenerator();
    const Outcome o = create(inHost, g);
    ASSERT_EQ(o.result, TSR_SUCCESS) << o.message;
    EXPECT_EQ(counting::counts()[counting::AllocateMemory], before[counting::AllocateMemory])
        << "tessera allocated although the host gave it memory";
    if (hostMaps) {
      EXPECT_EQ(counting::counts()[counting::MapMemory], before[counting::MapMemory])
          << "the host's mapping is used";
    }
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const std::vector<uint8_t> got = generateOne(g.get(), requests[i]);
      EXPECT_EQ(got, want[i]) << "request " << i << ": " << firstDifference(got, want[i]);
    }
    g.reset();
  }

  // Blocks that do not fit are refused before anything is bound, naming the sizes.
  HostBlocks blocks(host(), req, false);
  GeneratorSpec bad = spec;
  tsr_memory_block small = blocks.deviceBlock;
  small.size = req.device_bytes - 1;
  bad.deviceMemory = &small;
  bad.stagingMemory = &blocks.stagingBlock;
  GeneratorPtr g = noGenerator();
  expectFailure(create(bad, g), TSR_ERROR_OUT_OF_ARENA, "tsr_generator_create",
                {std::to_string(req.device_bytes - 1), std::to_string(req.device_bytes)});
  EXPECT_EQ(g, nullptr);
  tsr_memory_block smallStaging = blocks.stagingBlock;
  smallStaging.size = req.staging_bytes / 2;
  bad.deviceMemory = &blocks.deviceBlock;
  bad.stagingMemory = &smallStaging;
  expectFailure(create(bad, g), TSR_ERROR_OUT_OF_ARENA, "tsr_generator_create", {"staging block holds"});
  if (req.device_alignment > 1) {
    tsr_memory_block misaligned = blocks.deviceBlock;
    misaligned.offset += req.device_alignment / 2;
    bad.deviceMemory = &misaligned;
    bad.stagingMemory = &blocks.stagingBlock;
    expectFailure(create(bad, g), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_create",
                  {"alignment " + std::to_string(req.device_alignment)});
  }
  bad.deviceMemory = &blocks.deviceBlock;
  bad.stagingMemory = nullptr;
  expectFailure(create(bad, g), TSR_ERROR_INVALID_ARGUMENT, "tsr_generator_create",
                {"device_memory and staging_memory"});
}

TEST_F(ApiMemoryTest, RequestsBeyondTheArenaAreRefused) {
  TRACE_SEED();
  GeneratorPtr g = makeGenerator(context(), model(), {16, 16, 2});
  const tsr_request good = request(16, 16, seed(), 1, 1);
  const std::vector<uint8_t> want = generateOne(g.get(), good);
  for (auto [w, h] : {std::pair{32u, 32u}, std::pair{16u, 20u}, std::pair{20u, 16u}}) {
    std::vector<uint8_t> px(std::size_t(w) * h * 4);
    tsr_request r = request(w, h, 1, 1, 1);
    r.output.pixels = px.data();
    expectFailure(outcome(tsr_generate(g.get(), &r, 1, nullptr, nullptr)), TSR_ERROR_OUT_OF_ARENA,
                  "tsr_generate", {std::to_string(w) + "x" + std::to_string(h), "16x16", "max_width"});
  }
  Job three({good, good, good});
  expectFailure(outcome(tsr_generate(g.get(), three.requests.data(), 3, nullptr, nullptr)),
                TSR_ERROR_OUT_OF_ARENA, "tsr_generate", {"3 requests", "max_batch 2"});
  EXPECT_EQ(generateOne(g.get(), good), want) << "the generator is unharmed";
}

TEST_F(ApiMemoryTest, MalformedRequestsAreRefusedClearly) {
  TRACE_SEED();
  GeneratorSpec spec{16, 16, 2};
  GeneratorPtr g = makeGenerator(context(), model(), spec);
  GeneratorSpec ngSpec = spec;
  ngSpec.flags = TSR_GENERATOR_NO_GUIDANCE;
  GeneratorPtr noGuidance = makeGenerator(context(), model(), ngSpec);
  const tsr_request good = request(16, 16, seed(), 2, 1);
  const std::vector<uint8_t> want = generateOne(g.get(), good);
  std::vector<uint8_t> init(16 * 16 * 4, 128), mask(16 * 16, 255);
  struct Case {
    const char* what;
    std::function<void(tsr_request&)> change;
    tsr_result code;
    std::vector<std::string> needles;
    bool onNoGuidance = false;
  };
  const std::vector<Case> cases = {
      {"size not a multiple of 4",
       [](tsr_request& r) { r.width = 14; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"14x16", "multiple of 4"}},
      {"class past the last",
       [](tsr_request& r) { r.class_index = 10; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"class_index 10", "[0, 10)"}},
      {"strength 2",
       [&](tsr_request& r) { r.init_rgba = init.data(), r.strength = 2.0f; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"strength 2"}},
      {"strength NaN",
       [&](tsr_request& r) { r.init_rgba = init.data(), r.strength = NAN; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"strength"}},
      {"mask without init",
       [&](tsr_request& r) { r.mask = mask.data(); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"mask", "init_rgba"}},
      {"NULL pixels",
       [](tsr_request& r) { r.output.pixels = nullptr; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"output.pixels is NULL"}},
      {"unknown format",
       [](tsr_request& r) { r.output.format = VK_FORMAT_B8G8R8A8_UNORM; },
       TSR_ERROR_UNSUPPORTED,
       {"output format " + std::to_string(int(VK_FORMAT_B8G8R8A8_UNORM))}},
      {"unknown output kind",
       [](tsr_request& r) { storeEnum(r.output.kind, 9); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"output.kind 9"}},
      // A C host can store any integer in an enum field: negative ones and the extremes are
      // read as integers and refused, never loaded as the enum (undefined behaviour in C++).
      {"negative output kind",
       [](tsr_request& r) { storeEnum(r.output.kind, -1); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"output.kind -1"}},
      {"output kind INT32_MIN",
       [](tsr_request& r) { storeEnum(r.output.kind, INT32_MIN); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"output.kind -2147483648"}},
      {"negative format",
       [](tsr_request& r) { storeEnum(r.output.format, -3); },
       TSR_ERROR_UNSUPPORTED,
       {"output format -3"}},
      {"negative final layout",
       [](tsr_request& r) {
         r.output.kind = TSR_OUTPUT_IMAGE;
         r.output.image = reinterpret_cast<VkImage>(uintptr_t(0x1000));  // refused before any Vulkan call
         r.output.mip_levels = 1;
         storeEnum(r.output.final_layout, -1);
       },
       TSR_ERROR_INVALID_ARGUMENT,
       {"output.final_layout -1"}},
      {"final layout tessera does not finish in",
       [](tsr_request& r) {
         r.output.kind = TSR_OUTPUT_IMAGE;
         r.output.image = reinterpret_cast<VkImage>(uintptr_t(0x1000));
         r.output.mip_levels = 1;
         r.output.final_layout = VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL;
       },
       TSR_ERROR_INVALID_ARGUMENT,
       {"output.final_layout 2", "TRANSFER_SRC_OPTIMAL", "GENERAL"}},
      {"row pitch below a row",
       [](tsr_request& r) { r.output.row_pitch = 60; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"row_pitch 60", "64 bytes"}},
      {"unknown sampler",
       [](tsr_request& r) { storeEnum(r.sampler, 42); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"sampler 42"}},
      {"sampler MAX_ENUM",
       [](tsr_request& r) { r.sampler = TSR_SAMPLER_MAX_ENUM; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"sampler 2147483647"}},
      {"negative sampler",
       [](tsr_request& r) { storeEnum(r.sampler, -2); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"sampler -2"}},
      {"unknown tiling",
       [](tsr_request& r) { storeEnum(r.tiling, 9); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"tiling 9"}},
      {"negative tiling",
       [](tsr_request& r) { storeEnum(r.tiling, -9); },
       TSR_ERROR_INVALID_ARGUMENT,
       {"tiling -9"}},
      {"too many steps", [](tsr_request& r) { r.steps = 1001; }, TSR_ERROR_INVALID_ARGUMENT, {"steps 1001"}},
      {"guidance NaN", [](tsr_request& r) { r.guidance = NAN; }, TSR_ERROR_INVALID_ARGUMENT, {"guidance"}},
      {"guidance 1000",
       [](tsr_request& r) { r.guidance = 1000.0f; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"guidance 1000"}},
      {"guidance on a NO_GUIDANCE generator",
       [](tsr_request& r) { r.guidance = 2.0f; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"guidance 2", "TSR_GENERATOR_NO_GUIDANCE"},
       true},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    tsr_generator target = k.onNoGuidance ? noGuidance.get() : g.get();
    // Alone, and as the second request of a job: the message says which.
    Job job({good, good});
    k.change(job.requests[1]);
    tsr_request alone = job.requests[1];
    std::vector<std::string> needles(k.needles);
    needles.push_back("request 0");
    expectFailure(outcome(tsr_generate(target, &alone, 1, nullptr, nullptr)), k.code, "tsr_generate",
                  needles);
    needles.back() = "request 1";
    expectFailure(outcome(tsr_generator_begin(target, job.requests.data(), 2)), k.code, "tsr_generator_begin",
                  needles);
    EXPECT_EQ(job.pixels[0][3], poisonByte(VK_FORMAT_R8G8B8A8_SRGB)) << "a refused job wrote an output";
    // The generator is idle and unharmed.
    const std::vector<uint8_t> after = generateOne(target, good);
    if (!k.onNoGuidance) {
      EXPECT_EQ(after, want) << firstDifference(after, want);
    }
  }
  // NO_GUIDANCE generators still run guidance 1 (and the model's default, 1.0).
  tsr_request unguided = good;
  unguided.guidance = 1.0f;
  EXPECT_EQ(generateOne(noGuidance.get(), unguided), want);
}

TEST_F(ApiMemoryTest, GeneratorDescriptionsAreChecked) {
  struct Case {
    const char* what;
    std::function<void(GeneratorSpec&)> change;
    tsr_result code;
    std::vector<std::string> needles;
  };
  static const tsr_shape tooBig{32, 16, 1}, zero{0, 16, 1};
  const std::vector<Case> cases = {
      {"max size not a multiple of 4",
       [](GeneratorSpec& s) { s.maxWidth = 30; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"30x16", "multiple of 4"}},
      {"max size past 16384",
       [](GeneratorSpec& s) { s.maxHeight = 16388; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"16384"}},
      {"max_batch past 256",
       [](GeneratorSpec& s) { s.maxBatch = 257; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"max_batch 257"}},
      {"unknown precision",
       [](GeneratorSpec& s) { s.precision = 7; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"precision 7"}},
      {"negative precision",
       [](GeneratorSpec& s) { s.precision = -1; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"precision -1"}},
      {"precision INT32_MIN",
       [](GeneratorSpec& s) { s.precision = INT32_MIN; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"precision -2147483648"}},
      {"unknown flags",
       [](GeneratorSpec& s) { s.flags = 1u << 7; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"flags 128"}},
      {"prepared shape past the maxima",
       [](GeneratorSpec& s) { s.prepared = {tooBig}; },
       TSR_ERROR_INVALID_ARGUMENT,
       {"prepared shape 0", "32x16", "exceeds"}},
      {"prepared shape of size 0",
       [](GeneratorSpec& s) {
         s.prepared = {{16, 16, 1}, zero};
       },
       TSR_ERROR_INVALID_ARGUMENT,
       {"prepared shape 1"}},
  };
  const Counts before = counting::counts();
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    GeneratorSpec spec{16, 16, 1};
    k.change(spec);
    GeneratorPtr g = noGenerator();
    expectFailure(create(spec, g), k.code, "tsr_generator_create", k.needles);
    EXPECT_EQ(g, nullptr);
    const tsr_generator_desc d = spec.desc();
    tsr_memory_requirements r;
    tsr_memory_requirements_defaults(&r);
    expectFailure(outcome(tsr_query_memory(context(), model(), &d, &r)), k.code, "tsr_query_memory",
                  k.needles);
  }
  tsr_generator_desc d = GeneratorSpec{16, 16, 1}.desc();
  d.prepared_shape_count = 2;
  tsr_generator g = nullptr;
  expectFailure(outcome(tsr_generator_create(context(), model(), &d, &g)), TSR_ERROR_INVALID_ARGUMENT,
                "tsr_generator_create", {"prepared_shapes is NULL"});
  EXPECT_EQ(counting::counts()[counting::AllocateMemory], before[counting::AllocateMemory])
      << "a refused description allocated memory";

  // fp16 storage on a context whose device does not have it enabled.
  tsr_host_device_desc hd = hostDeviceDesc(host());
  hd.storage_buffer_16bit_access = VK_FALSE;
  tsr_context c = nullptr;
  TSR_ASSERT_OK(tsr_context_create_from_device(&hd, &c));
  ContextPtr fp32Only(c, &tsr_context_destroy);
  GeneratorSpec fp16{16, 16, 1};
  fp16.precision = TSR_PRECISION_FP16;
  d = fp16.desc();
  expectFailure(outcome(tsr_generator_create(fp32Only.get(), model(), &d, &g)),
                TSR_ERROR_DEVICE_FEATURE_MISSING, "tsr_generator_create",
                {"TSR_PRECISION_FP16", "storageBuffer16BitAccess"});
}

TEST_F(ApiMemoryTest, StrictShapesRefuseWhatWasNotPrepared) {
  TRACE_SEED();
  GeneratorSpec spec{32, 32, 2};
  spec.prepared = {{16, 16, 1}};
  spec.flags = TSR_GENERATOR_STRICT_SHAPES;
  GeneratorPtr strict = makeGenerator(context(), model(), spec);
  spec.flags = 0;
  GeneratorPtr lenient = makeGenerator(context(), model(), spec);

  // Every variation of a prepared shape runs: formats, init images, masks, tilings, guidance.
  std::vector<uint8_t> init(16 * 16 * 4, 200), mask(16 * 16, 0);
  for (std::size_t i = 0; i < mask.size(); i += 3) mask[i] = 255;
  std::vector<tsr_request> prepared(6, request(16, 16, seed(), 4, 1));
  prepared[1].output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
  prepared[2].init_rgba = init.data(), prepared[2].strength = 0.5f, prepared[2].steps = 2;
  prepared[3].init_rgba = init.data(), prepared[3].mask = mask.data();
  prepared[4].tiling = TSR_TILING_PLAIN;
  prepared[5].guidance = 2.5f;
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    SCOPED_TRACE("variation " + std::to_string(i));
    const std::vector<uint8_t> a = generateOne(strict.get(), prepared[i]);
    EXPECT_EQ(a, generateOne(lenient.get(), prepared[i]));
  }
  // Other sizes and batches are refused by the strict generator, built by the other.
  const tsr_request other = request(12, 16, seed(), 4, 1);
  std::vector<uint8_t> px(12 * 16 * 4);
  tsr_request r = other;
  r.output.pixels = px.data();
  expectFailure(outcome(tsr_generate(strict.get(), &r, 1, nullptr, nullptr)), TSR_ERROR_UNSUPPORTED,
                "tsr_generate", {"12x16", "not prepared", "TSR_GENERATOR_STRICT_SHAPES"});
  Job pair({prepared[0], request(16, 16, seed(), 1, 1)});
  expectFailure(outcome(tsr_generate(strict.get(), pair.requests.data(), 2, nullptr, nullptr)),
                TSR_ERROR_UNSUPPORTED, "tsr_generate", {"batch 2", "not prepared"});
  EXPECT_TRUE(opaqueRgba8(generateOne(lenient.get(), other)));
  EXPECT_TRUE(opaqueRgba8(generate(lenient.get(), pair.requests)[1]));
  // Refusals leave the strict generator working.
  EXPECT_TRUE(opaqueRgba8(generateOne(strict.get(), prepared[0])));

  // No prepared shapes named: the largest shape, and batch 1 at the largest size.
  GeneratorSpec byDefault{16, 16, 2};
  byDefault.flags = TSR_GENERATOR_STRICT_SHAPES;
  GeneratorPtr d = makeGenerator(context(), model(), byDefault);
  EXPECT_TRUE(opaqueRgba8(generateOne(d.get(), prepared[0])));
  const auto both = generate(d.get(), pair.requests);
  EXPECT_TRUE(opaqueRgba8(both[0]) && opaqueRgba8(both[1]));
  std::vector<uint8_t> small(12 * 12 * 4);
  tsr_request smaller = request(12, 12, 1, 1, 1);
  smaller.output.pixels = small.data();
  expectFailure(outcome(tsr_generate(d.get(), &smaller, 1, nullptr, nullptr)), TSR_ERROR_UNSUPPORTED,
                "tsr_generate", {"12x12", "not prepared"});
}

// The promise of tessera.h: after tsr_generator_create, generating prepared shapes creates and
// allocates nothing on the device, whichever way the job runs.
TEST_F(ApiMemoryTest, GeneratingPreparedShapesCreatesNoVulkanObjects) {
  TRACE_SEED();
  GeneratorSpec spec{32, 32, 2};
  spec.prepared = {{16, 16, 1}, {16, 16, 2}, {32, 32, 1}};
  const Counts beforeCreate = counting::counts();
  GeneratorPtr g = makeGenerator(context(), model(), spec);
  std::printf("generator creation:%s\n", counting::changes(beforeCreate).c_str());
  EXPECT_LE(counting::counts()[counting::AllocateMemory] - beforeCreate[counting::AllocateMemory], 2u)
      << "at most one VkDeviceMemory per memory kind";

  std::vector<uint8_t> init(16 * 16 * 4), mask(16 * 16);
  for (auto& b : init) b = uint8_t(rng_());
  for (auto& b : mask) b = uint8_t(rng_());
  HostImage image(
      host(), 32, 32, VK_FORMAT_R8G8B8A8_SRGB, 6,
      VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
  HostBuffer buffer(host(), 16 * 16 * 8, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  std::vector<tsr_request> variations(8, request(16, 16, seed(), 3, 2));
  variations[1].output.format = VK_FORMAT_R16G16B16A16_SFLOAT;
  variations[2].init_rgba = init.data(), variations[2].strength = 0.5f;
  variations[3].init_rgba = init.data(), variations[3].mask = mask.data();
  variations[4].tiling = TSR_TILING_PLAIN, variations[4].guidance = 3.0f,
  variations[4].sampler = TSR_SAMPLER_HEUN;
  variations[5] = request(32, 32, seed(), 1, 1);
  variations[5].output.kind = TSR_OUTPUT_IMAGE;
  variations[5].output.image = image.image;
  variations[5].output.mip_levels = 6;
  variations[6].output.kind = TSR_OUTPUT_BUFFER;
  variations[6].output.buffer = buffer.buffer;
  variations[7].sampler = TSR_SAMPLER_DPMPP_2M, variations[7].steps = 3;
  // Warm-up, so the baseline is taken with everything a generation could lazily make made.
  for (std::size_t i = 0; i < variations.size(); ++i) {
    Job job({variations[i]});
    job.requests[0].output = variations[i].output;
    if (variations[i].output.kind == TSR_OUTPUT_HOST_MEMORY) job.bind();
    TSR_ASSERT_OK(tsr_generate(g.get(), job.requests.data(), 1, nullptr, nullptr));
  }
  const Counts baseline = counting::counts();
  uint64_t ownSubmissions = 0;  // tessera submits only in tsr_generate (and tsr_generator_submit)
  for (int round = 0; round < 2; ++round)
    for (std::size_t i = 0; i < variations.size(); ++i) {
      SCOPED_TRACE("round " + std::to_string(round) + ", variation " + std::to_string(i));
      // With a different request (two groups) or the same one (a batch of two).
      Job job({variations[i], variations[i % 2 ? (i + 1) % 5 : i]});
      job.requests[0].output = variations[i].output;
      if (variations[i].output.kind == TSR_OUTPUT_HOST_MEMORY) job.bind();
      job.requests[0].seed = job.requests[1].seed = seed();
      const uint32_t n = variations[i].width == 16 ? 2 : 1;
      switch ((round * 3 + i) % 3) {
        case 0:  // tessera's queue
          TSR_ASSERT_OK(tsr_generate(g.get(), job.requests.data(), n, nullptr, nullptr));
          ++ownSubmissions;
          break;
        case 1: {  // the host's command buffer, whole
          TSR_ASSERT_OK(tsr_generator_begin(g.get(), job.requests.data(), n));
          VkCommandBuffer cmd = submitter().begin();
          TSR_ASSERT_OK(tsr_generator_record(g.get(), cmd));
          submitter().submitAndWait(cmd);
          TSR_ASSERT_OK(tsr_generator_complete(g.get()));
          break;
        }
        default: {  // in slices
          TSR_ASSERT_OK(tsr_generator_begin(g.get(), job.requests.data(), n));
          VkBool32 done = VK_FALSE;
          while (!done) {
            VkCommandBuffer cmd = submitter().begin();
            TSR_ASSERT_OK(tsr_generator_record_slice(g.get(), cmd, 50.0, &done));
            submitter().submitAndWait(cmd);
          }
          TSR_ASSERT_OK(tsr_generator_complete(g.get()));
          tsr_progress p;
          tsr_progress_defaults(&p);
          TSR_ASSERT_OK(tsr_generator_get_progress(g.get(), &p));
        }
      }
    }
  Counts after = counting::counts();
  EXPECT_EQ(after[counting::QueueSubmit] - baseline[counting::QueueSubmit], ownSubmissions)
      << "one submission per tsr_generate, none for jobs the host records";
  after[counting::QueueSubmit] = baseline[counting::QueueSubmit];
  for (int i = 0; i < counting::kCounted; ++i) {
    if (counting::makesObjects(i) || i == counting::MapMemory) {
      EXPECT_EQ(after[i], baseline[i]) << counting::kNames[i] << " was called while generating prepared shapes";
    }
  }
  std::printf("Vulkan object calls during %zu prepared generations:%s\n", 2 * variations.size(),
              counting::changes(baseline, after).c_str());

  // The counter sees what it should: a shape not prepared is built on first use (descriptor
  // sets and pools), once.
  Counts beforeNew = counting::counts();
  EXPECT_TRUE(opaqueRgba8(generateOne(g.get(), request(20, 12, seed(), 0, 1))));
  Counts afterFirst = counting::counts();
  beforeNew[counting::QueueSubmit] = afterFirst[counting::QueueSubmit];
  EXPECT_GT(counting::total(afterFirst), counting::total(beforeNew)) << "an unprepared shape made nothing?";
  std::printf("first use of an unprepared shape:%s\n", counting::changes(beforeNew, afterFirst).c_str());
  afterFirst = counting::counts();
  EXPECT_TRUE(opaqueRgba8(generateOne(g.get(), request(20, 12, seed(), 0, 1))));
  Counts afterSecond = counting::counts();
  EXPECT_EQ(afterSecond[counting::QueueSubmit] - afterFirst[counting::QueueSubmit], 1u);
  afterSecond[counting::QueueSubmit] = afterFirst[counting::QueueSubmit];
  EXPECT_EQ(counting::changes(afterFirst, afterSecond), " none") << "the second use of that shape";
}

// Heap allocations (operator new on the calling thread) in three jobs of a prepared shape, each
// begun, recorded into a host command buffer (whole, in slices, whole) and completed, then run
// again through tsr_generate. Without the validation layer, whose own bookkeeping allocates
// inside every vkCmd* call. Measured once for the tests below.
struct HeapFigures {
  bool counterWorks = false;
  uint64_t beginning = 0, recording = 0, generating = 0;
  std::string error;
};

HeapFigures measureHeap(tsr_model model, uint64_t seed) {
  HeapFigures f;
  HostVulkan plain(false);
  HostSubmitter plainSubmitter(plain);
  ContextPtr ctx = hostContext(plain);
  GeneratorSpec spec{16, 16, 1};
  spec.prepared = {{16, 16, 1}};
  GeneratorPtr g = makeGenerator(ctx.get(), model, spec);
  // The counter sees this binary's allocations (else the checks would prove nothing).
  uint64_t start = heap::allocations;
  heap::armed = true;
  auto probe = std::make_unique<std::string>(100, 'x');
  heap::armed = false;
  f.counterWorks = heap::allocations - start > 0 && probe->size() == 100;

  Job job({request(16, 16, seed, 5, 3, TSR_SAMPLER_HEUN)});
  auto step = [&](uint64_t& sum, const std::function<tsr_result()>& call) {
    start = heap::allocations;
    heap::armed = true;
    const tsr_result r = call();
    heap::armed = false;
    sum += heap::allocations - start;
    if (r != TSR_SUCCESS && f.error.empty()) f.error = describe(r);
    return r == TSR_SUCCESS;
  };
  if (tsr_generate(g.get(), job.requests.data(), 1, nullptr, nullptr) != TSR_SUCCESS) {  // warm-up
    f.error = std::string("warm-up: ") + tsr_last_error();
    return f;
  }
  for (int run = 0; run < 3; ++run) {
    job.bind();
    if (!step(f.beginning, [&] { return tsr_generator_begin(g.get(), job.requests.data(), 1); })) return f;
    VkCommandBuffer cmd = plainSubmitter.begin();
    const bool recorded = step(f.recording, [&] {
      if (run != 1) return tsr_generator_record(g.get(), cmd);
      VkBool32 done = VK_FALSE;
      tsr_result r = TSR_SUCCESS;
      while (r == TSR_SUCCESS && !done) r = tsr_generator_record_slice(g.get(), cmd, 20.0, &done);
      return r;
    });
    plainSubmitter.submitAndWait(cmd);
    if (!recorded || tsr_generator_complete(g.get()) != TSR_SUCCESS) return f;
    job.bind();
    if (!step(f.generating, [&] { return tsr_generate(g.get(), job.requests.data(), 1, nullptr, nullptr); }))
      return f;
  }
  std::printf("heap allocations in 3 jobs: tsr_generator_begin %llu, recording %llu, tsr_generate %llu\n",
              (unsigned long long)f.beginning, (unsigned long long)f.recording,
              (unsigned long long)f.generating);
  return f;
}

const HeapFigures& heapFigures(tsr_model model, uint64_t seed) {
  static const HeapFigures f = measureHeap(model, seed);
  return f;
}

TEST_F(ApiMemoryTest, RecordingAJobAllocatesNoHeapMemory) {
  TRACE_SEED();
  const HeapFigures& f = heapFigures(model(), seed());
  ASSERT_EQ(f.error, "");
  ASSERT_TRUE(f.counterWorks);
  EXPECT_EQ(f.recording, 0u) << "operator new called while recording";
}

// DESIGN.md: "After creation, generating allocates nothing, on the GPU or the heap of the hot
// path"; the generator reserves its job's capacity at creation for this.
TEST_F(ApiMemoryTest, BeginningAJobOfAPreparedShapeAllocatesNoHeapMemory) {
  TRACE_SEED();
  const HeapFigures& f = heapFigures(model(), seed());
  ASSERT_EQ(f.error, "");
  ASSERT_TRUE(f.counterWorks);
  EXPECT_EQ(f.beginning, 0u) << "operator new called in tsr_generator_begin";
  EXPECT_EQ(f.generating, 0u) << "operator new called in tsr_generate";
}

}  // namespace
}  // namespace tessera::test::api
