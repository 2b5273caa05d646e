// The public API's objectless parts and contexts: what tessera asks of a host's device, standalone
// and host-device contexts, the defaults of every versioned struct, results and their names,
// the per-thread message, and that every entry point refuses NULL and short structs with
// TSR_ERROR_INVALID_ARGUMENT and a message naming the problem instead of crashing.
#include <cstddef>
#include <cstring>
#include <set>
#include <thread>

#include "api_fixtures.hpp"
#include "tessera/tessera.hpp"

namespace tessera::test::api {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

class ApiContextTest : public StandaloneApiTest {};

TEST_F(ApiContextTest, DeviceRequirementsNameWhatTesseraWants) {
  tsr_device_requirements r;
  tsr_device_requirements_defaults(&r);
  EXPECT_EQ(r.struct_size, sizeof(r));
  TSR_ASSERT_OK(tsr_get_device_requirements(&r));
  EXPECT_EQ(r.struct_size, sizeof(r));
  EXPECT_EQ(r.min_api_version, uint32_t(VK_API_VERSION_1_1));
  EXPECT_TRUE(r.queue_flags & VK_QUEUE_COMPUTE_BIT);
  // "none at present": a count of zero, and no array to read past.
  EXPECT_EQ(r.required_device_extension_count, 0u);
  for (uint32_t i = 0; i < r.required_device_extension_count; ++i)
    EXPECT_NE(r.required_device_extensions[i], nullptr);
  EXPECT_EQ(r.want_storage_buffer_16bit_access, VK_TRUE);
  EXPECT_EQ(r.want_shader_float16, VK_TRUE);
  // Compute only: mips are compute shaders and copies, so an async compute queue will do, and
  // an output image needs nothing beyond copies into it.
  EXPECT_EQ(r.queue_flags, VkQueueFlags(VK_QUEUE_COMPUTE_BIT));
  EXPECT_EQ(r.output_image_usage, VkImageUsageFlags(VK_IMAGE_USAGE_TRANSFER_DST_BIT));
  EXPECT_EQ(r.output_format_features, VkFormatFeatureFlags(VK_FORMAT_FEATURE_TRANSFER_DST_BIT));

  // A host built against the first header (no output_* fields) gets the rest, and nothing is
  // written past its struct.
  struct {
    tsr_device_requirements r;
    unsigned char guard[16];
  } old;
  std::memset(&old, 0xAB, sizeof(old));
  old.r.struct_size = uint32_t(offsetof(tsr_device_requirements, output_image_usage));
  TSR_ASSERT_OK(tsr_get_device_requirements(&old.r));
  EXPECT_EQ(old.r.queue_flags, r.queue_flags);
  const auto* tail = reinterpret_cast<const unsigned char*>(&old.r) + old.r.struct_size;
  for (std::size_t i = 0; i < sizeof(old) - old.r.struct_size; ++i) ASSERT_EQ(tail[i], 0xAB) << "byte " << i;

  // The C++ wrapper asks the same.
  const tsr_device_requirements viaWrapper = tsr::deviceRequirements();
  EXPECT_EQ(viaWrapper.min_api_version, r.min_api_version);
  EXPECT_EQ(viaWrapper.queue_flags, r.queue_flags);
}

TEST_F(ApiContextTest, DefaultsFillTheDocumentedValues) {
  tsr_standalone_desc s;
  std::memset(&s, 0xCC, sizeof(s));
  tsr_standalone_desc_defaults(&s);
  EXPECT_EQ(s.struct_size, sizeof(s));
  EXPECT_EQ(s.device, nullptr);
  EXPECT_EQ(s.validation, VK_FALSE);
  EXPECT_EQ(s.on_validation_message, nullptr);
  EXPECT_EQ(s.allow_fp16, VK_TRUE);

  tsr_generator_desc g;
  std::memset(&g, 0xCC, sizeof(g));
  tsr_generator_desc_defaults(&g);
  EXPECT_EQ(g.struct_size, sizeof(g));
  EXPECT_EQ(g.max_width, 0u);  // the model's native size
  EXPECT_EQ(g.max_height, 0u);
  EXPECT_EQ(g.max_batch, 1u);
  EXPECT_EQ(g.precision, TSR_PRECISION_AUTO);
  EXPECT_EQ(g.flags, 0u);
  EXPECT_EQ(g.prepared_shapes, nullptr);
  EXPECT_EQ(g.prepared_shape_count, 0u);
  EXPECT_EQ(g.device_memory, nullptr);
  EXPECT_EQ(g.staging_memory, nullptr);

  tsr_request r;
  std::memset(&r, 0xCC, sizeof(r));
  tsr_request_defaults(&r);
  EXPECT_EQ(r.struct_size, sizeof(r));
  EXPECT_EQ(r.width, 0u);
  EXPECT_EQ(r.height, 0u);
  EXPECT_EQ(r.class_index, -1);
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(r.sampler, TSR_SAMPLER_DEFAULT);
  EXPECT_LT(r.guidance, 0.0f);  // the model's default
  EXPECT_EQ(r.tiling, TSR_TILING_DEFAULT);
  EXPECT_EQ(r.init_rgba, nullptr);
  EXPECT_EQ(r.strength, 1.0f);
  EXPECT_EQ(r.mask, nullptr);
  EXPECT_EQ(r.output.kind, TSR_OUTPUT_HOST_MEMORY);
  EXPECT_EQ(r.output.format, VK_FORMAT_R8G8B8A8_SRGB);
  EXPECT_EQ(r.output.pixels, nullptr);
  EXPECT_EQ(r.output.row_pitch, 0u);

  tsr_host_device_desc h;
  tsr_host_device_desc_defaults(&h);
  EXPECT_EQ(h.struct_size, sizeof(h));
  EXPECT_EQ(h.device, VK_NULL_HANDLE);
  tsr_context_info ci;
  tsr_context_info_defaults(&ci);
  EXPECT_EQ(ci.struct_size, sizeof(ci));
  tsr_model_info mi;
  tsr_model_info_defaults(&mi);
  EXPECT_EQ(mi.struct_size, sizeof(mi));
  tsr_memory_requirements mr;
  tsr_memory_requirements_defaults(&mr);
  EXPECT_EQ(mr.struct_size, sizeof(mr));
  tsr_progress p;
  tsr_progress_defaults(&p);
  EXPECT_EQ(p.struct_size, sizeof(p));

  // NULL is ignored, not dereferenced.
  tsr_device_requirements_defaults(nullptr);
  tsr_standalone_desc_defaults(nullptr);
  tsr_host_device_desc_defaults(nullptr);
  tsr_context_info_defaults(nullptr);
  tsr_model_info_defaults(nullptr);
  tsr_generator_desc_defaults(nullptr);
  tsr_memory_requirements_defaults(nullptr);
  tsr_request_defaults(nullptr);
  tsr_progress_defaults(nullptr);
}

TEST_F(ApiContextTest, StandaloneContextReportsItsDevice) {
  tsr_context_info info;
  tsr_context_info_defaults(&info);
  TSR_ASSERT_OK(tsr_context_get_info(context(), &info));
  EXPECT_EQ(info.struct_size, sizeof(info));
  const std::string name = info.device_name;
  EXPECT_FALSE(name.empty());
  EXPECT_LT(name.size(), sizeof(info.device_name));
  EXPECT_EQ(info.owns_device, VK_TRUE);
  std::printf("standalone device: %s, fp16 storage %s\n", info.device_name, info.fp16_storage ? "on" : "off");

  // allow_fp16 off: the device is made without 16-bit storage.
  MessageLog log;
  {
    ContextPtr plain = standaloneContext(log, false);
    tsr_context_info pi;
    tsr_context_info_defaults(&pi);
    TSR_ASSERT_OK(tsr_context_get_info(plain.get(), &pi));
    EXPECT_EQ(pi.fp16_storage, VK_FALSE);
    EXPECT_STREQ(pi.device_name, info.device_name);
  }
  // A case-insensitive part of the name selects the same device.
  {
    const std::string part = name.size() > 3 ? name.substr(1, name.size() / 2) : name;
    std::string swapped = part;
    for (char& c : swapped)
      c = std::isupper(static_cast<unsigned char>(c)) ? char(std::tolower(c)) : char(std::toupper(c));
    ContextPtr byName = standaloneContext(log, true, swapped.c_str());
    tsr_context_info bi;
    tsr_context_info_defaults(&bi);
    TSR_ASSERT_OK(tsr_context_get_info(byName.get(), &bi));
    EXPECT_STREQ(bi.device_name, info.device_name) << "selector '" << swapped << "'";
  }
  // An index into vkEnumeratePhysicalDevices.
  {
    ContextPtr byIndex = standaloneContext(log, true, "0");
    tsr_context_info xi;
    tsr_context_info_defaults(&xi);
    TSR_ASSERT_OK(tsr_context_get_info(byIndex.get(), &xi));
    EXPECT_GT(std::strlen(xi.device_name), 0u);
  }
  log.expectNoneSince(0);

  // A selector no device matches: NO_DEVICE, naming the selector and the devices there are.
  tsr_standalone_desc d;
  tsr_standalone_desc_defaults(&d);
  d.device = "no-such-gpu-4711";
  tsr_context c = reinterpret_cast<tsr_context>(0x1);
  expectFailure(outcome(tsr_context_create_standalone(&d, &c)), TSR_ERROR_NO_DEVICE,
                "tsr_context_create_standalone", {"no-such-gpu-4711", name});
  EXPECT_EQ(c, nullptr) << "a failed create leaves *out NULL";
  d.device = "99";
  expectFailure(outcome(tsr_context_create_standalone(&d, &c)), TSR_ERROR_NO_DEVICE,
                "tsr_context_create_standalone", {"'99'"});

  // NULL or "": the TESSERA_DEVICE environment variable decides.
  const char* old = std::getenv("TESSERA_DEVICE");
  const std::string saved = old ? old : "";
  setenv("TESSERA_DEVICE", "no-such-gpu-from-env", 1);
  for (const char* selector : {static_cast<const char*>(nullptr), ""}) {
    d.device = selector;
    expectFailure(outcome(tsr_context_create_standalone(&d, &c)), TSR_ERROR_NO_DEVICE,
                  "tsr_context_create_standalone", {"no-such-gpu-from-env"});
  }
  if (old)
    setenv("TESSERA_DEVICE", saved.c_str(), 1);
  else
    unsetenv("TESSERA_DEVICE");
}

TEST_F(ApiContextTest, HostDeviceContextWorksOnTheHostsDeviceAndLeavesIt) {
  HostVulkan host(true);
  {
    ContextPtr ctx = hostContext(host);
    tsr_context_info info;
    tsr_context_info_defaults(&info);
    TSR_ASSERT_OK(tsr_context_get_info(ctx.get(), &info));
    EXPECT_EQ(info.owns_device, VK_FALSE);
    EXPECT_EQ(std::string(info.device_name), host.deviceName);
    EXPECT_EQ(info.fp16_storage == VK_TRUE, host.storage16) << "what the host enabled";
  }
  // A host that did not enable 16-bit storage gets an fp32 context even if the device could.
  {
    tsr_host_device_desc d = hostDeviceDesc(host);
    d.storage_buffer_16bit_access = VK_FALSE;
    tsr_context c = nullptr;
    TSR_ASSERT_OK(tsr_context_create_from_device(&d, &c));
    ContextPtr ctx(c, &tsr_context_destroy);
    tsr_context_info info;
    tsr_context_info_defaults(&info);
    TSR_ASSERT_OK(tsr_context_get_info(ctx.get(), &info));
    EXPECT_EQ(info.fp16_storage, VK_FALSE);
  }
  // The host's device outlives the context and still works.
  EXPECT_EQ(host.fn.vkDeviceWaitIdle(host.device), VK_SUCCESS);
  HostBuffer stillUsable(host, 4096, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  HostSubmitter submitter(host);
  submitter.run(
      [&](VkCommandBuffer cmd) { host.fn.vkCmdFillBuffer(cmd, stillUsable.buffer, 0, 4096, 0x01020304u); });
  EXPECT_EQ(stillUsable.data()[4095], 0x01);
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation (host): " << m;
}

TEST_F(ApiContextTest, HostDeviceDescriptionsAreChecked) {
  HostVulkan host(true);
  auto refuse = [&](tsr_host_device_desc d, std::initializer_list<std::string> needles) {
    tsr_context c = nullptr;
    expectFailure(outcome(tsr_context_create_from_device(&d, &c)), TSR_ERROR_INVALID_ARGUMENT,
                  "tsr_context_create_from_device", needles);
    EXPECT_EQ(c, nullptr);
    if (c) tsr_context_destroy(c);
  };
  tsr_host_device_desc d = hostDeviceDesc(host);
  d.device = VK_NULL_HANDLE;
  refuse(d, {"device"});
  d = hostDeviceDesc(host);
  d.instance = VK_NULL_HANDLE;
  refuse(d, {"instance"});
  d = hostDeviceDesc(host);
  d.get_device_proc_addr = nullptr;
  refuse(d, {"vkGetDeviceProcAddr"});
  d = hostDeviceDesc(host);
  d.get_instance_proc_addr = nullptr;
  refuse(d, {"vkGetInstanceProcAddr"});
  d = hostDeviceDesc(host);
  d.queue_family = 99;
  refuse(d, {"queue family 99"});
  d = hostDeviceDesc(host);
  d.queue_index = 5;  // HostVulkan made one queue
  refuse(d, {"index 5"});
  d = hostDeviceDesc(host);
  d.struct_size = 8;
  refuse(d, {"tsr_host_device_desc.struct_size is 8", "tsr_*_defaults"});
  for (const std::string& m : host.messages()) ADD_FAILURE() << "Vulkan validation (host): " << m;
}

// Every entry point, given NULL where it needs something: INVALID_ARGUMENT, a message that starts
// with the function's name and names the argument, and *out left NULL.
TEST_F(ApiContextTest, EveryEntryPointRefusesNullArguments) {
  GeneratorPtr gen = makeGenerator(context(), model(), {16, 16, 1});
  tsr_standalone_desc sd;
  tsr_standalone_desc_defaults(&sd);
  tsr_host_device_desc hd;
  tsr_host_device_desc_defaults(&hd);
  tsr_context_info ci;
  tsr_context_info_defaults(&ci);
  tsr_model_info mi;
  tsr_model_info_defaults(&mi);
  tsr_generator_desc gd;
  tsr_generator_desc_defaults(&gd);
  gd.max_width = gd.max_height = 16;
  tsr_memory_requirements mr;
  tsr_memory_requirements_defaults(&mr);
  tsr_progress pr;
  tsr_progress_defaults(&pr);
  tsr_request rq = request(16, 16, 1);
  std::vector<uint8_t> px(16 * 16 * 4);
  rq.output.pixels = px.data();
  tsr_context outC = nullptr;
  tsr_model outM = nullptr;
  tsr_generator outG = nullptr;
  uint32_t index = 0;
  VkBool32 done = VK_FALSE;
  const std::string path = defaultModelPath();
  const char bytes[8] = {};
  tsr_context c = context();
  tsr_model m = model();
  tsr_generator g = gen.get();

  struct Case {
    const char* function;
    std::function<tsr_result()> call;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {"tsr_get_device_requirements", [&] { return tsr_get_device_requirements(nullptr); },
       "tsr_device_requirements is NULL"},
      {"tsr_context_create_standalone", [&] { return tsr_context_create_standalone(nullptr, &outC); },
       "tsr_standalone_desc is NULL"},
      {"tsr_context_create_standalone", [&] { return tsr_context_create_standalone(&sd, nullptr); },
       "out is NULL"},
      {"tsr_context_create_from_device", [&] { return tsr_context_create_from_device(nullptr, &outC); },
       "tsr_host_device_desc is NULL"},
      {"tsr_context_create_from_device", [&] { return tsr_context_create_from_device(&hd, nullptr); },
       "out is NULL"},
      {"tsr_context_get_info", [&] { return tsr_context_get_info(nullptr, &ci); }, "context is NULL"},
      {"tsr_context_get_info", [&] { return tsr_context_get_info(c, nullptr); }, "tsr_context_info is NULL"},
      {"tsr_model_load_file", [&] { return tsr_model_load_file(nullptr, &outM); }, "path"},
      {"tsr_model_load_file", [&] { return tsr_model_load_file(path.c_str(), nullptr); }, "out"},
      {"tsr_model_load_memory", [&] { return tsr_model_load_memory(nullptr, 8, &outM); }, "data"},
      {"tsr_model_load_memory", [&] { return tsr_model_load_memory(bytes, 8, nullptr); }, "out"},
      {"tsr_model_get_info", [&] { return tsr_model_get_info(nullptr, &mi); }, "model is NULL"},
      {"tsr_model_get_info", [&] { return tsr_model_get_info(m, nullptr); }, "tsr_model_info is NULL"},
      {"tsr_model_find_class", [&] { return tsr_model_find_class(nullptr, "brick", &index); }, "model"},
      {"tsr_model_find_class", [&] { return tsr_model_find_class(m, nullptr, &index); }, "name"},
      {"tsr_model_find_class", [&] { return tsr_model_find_class(m, "brick", nullptr); }, "index"},
      {"tsr_query_memory", [&] { return tsr_query_memory(nullptr, m, &gd, &mr); }, "context is NULL"},
      {"tsr_query_memory", [&] { return tsr_query_memory(c, nullptr, &gd, &mr); }, "model is NULL"},
      {"tsr_query_memory", [&] { return tsr_query_memory(c, m, nullptr, &mr); },
       "tsr_generator_desc is NULL"},
      {"tsr_query_memory", [&] { return tsr_query_memory(c, m, &gd, nullptr); },
       "tsr_memory_requirements is NULL"},
      {"tsr_generator_create", [&] { return tsr_generator_create(nullptr, m, &gd, &outG); },
       "context is NULL"},
      {"tsr_generator_create", [&] { return tsr_generator_create(c, nullptr, &gd, &outG); }, "model is NULL"},
      {"tsr_generator_create", [&] { return tsr_generator_create(c, m, nullptr, &outG); },
       "tsr_generator_desc is NULL"},
      {"tsr_generator_create", [&] { return tsr_generator_create(c, m, &gd, nullptr); }, "out is NULL"},
      {"tsr_generator_begin", [&] { return tsr_generator_begin(nullptr, &rq, 1); }, "generator is NULL"},
      {"tsr_generator_begin", [&] { return tsr_generator_begin(g, nullptr, 1); }, "at least one request"},
      {"tsr_generator_begin", [&] { return tsr_generator_begin(g, &rq, 0); }, "at least one request"},
      {"tsr_generator_record", [&] { return tsr_generator_record(g, VK_NULL_HANDLE); },
       "command buffer is VK_NULL_HANDLE"},
      {"tsr_generator_record", [&] { return tsr_generator_record(nullptr, VK_NULL_HANDLE); }, "NULL"},
      {"tsr_generator_record_slice",
       [&] { return tsr_generator_record_slice(nullptr, VK_NULL_HANDLE, 1.0, &done); }, "NULL"},
      {"tsr_generator_record_slice",
       [&] { return tsr_generator_record_slice(g, VK_NULL_HANDLE, 1.0, nullptr); }, "done is NULL"},
      {"tsr_generator_complete", [&] { return tsr_generator_complete(nullptr); }, "generator is NULL"},
      {"tsr_generator_cancel", [&] { return tsr_generator_cancel(nullptr); }, "generator is NULL"},
      {"tsr_generator_submit", [&] { return tsr_generator_submit(nullptr); }, "generator is NULL"},
      {"tsr_generator_query", [&] { return tsr_generator_query(nullptr); }, "generator is NULL"},
      {"tsr_generator_wait", [&] { return tsr_generator_wait(nullptr, 0); }, "generator is NULL"},
      {"tsr_generator_get_progress", [&] { return tsr_generator_get_progress(nullptr, &pr); },
       "generator is NULL"},
      {"tsr_generator_get_progress", [&] { return tsr_generator_get_progress(g, nullptr); },
       "tsr_progress is NULL"},
      {"tsr_generate", [&] { return tsr_generate(nullptr, &rq, 1, nullptr, nullptr); }, "generator is NULL"},
      {"tsr_generate", [&] { return tsr_generate(g, nullptr, 1, nullptr, nullptr); }, "at least one request"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(std::string(k.function) + " / " + k.needle);
    outC = reinterpret_cast<tsr_context>(0x1);
    outM = reinterpret_cast<tsr_model>(0x1);
    outG = reinterpret_cast<tsr_generator>(0x1);
    expectFailure(outcome(k.call()), TSR_ERROR_INVALID_ARGUMENT, k.function, {k.needle});
    // *out is NULL after a failure, or untouched when out itself was the bad argument.
    EXPECT_TRUE(outC == nullptr || outC == reinterpret_cast<tsr_context>(0x1));
    EXPECT_TRUE(outM == nullptr || outM == reinterpret_cast<tsr_model>(0x1));
    EXPECT_TRUE(outG == nullptr || outG == reinterpret_cast<tsr_generator>(0x1));
  }
  EXPECT_EQ(tsr_model_class_name(nullptr, 0), nullptr);
  // Destroying nothing is allowed.
  tsr_generator_destroy(nullptr);
  tsr_model_destroy(nullptr);
  tsr_context_destroy(nullptr);

  // The generator refused nothing of its own: it still generates.
  EXPECT_TRUE(opaqueRgba8(generateOne(g, request(16, 16, 5))));
}

// Structs whose struct_size is below the first version's: refused, naming the struct and the fix.
TEST_F(ApiContextTest, ShortStructsAreRefused) {
  GeneratorPtr gen = makeGenerator(context(), model(), {16, 16, 1});
  const uint32_t kShort = 4;
  auto expectShort = [](tsr_result r, const char* function, const std::string& structName) {
    expectFailure(outcome(r), TSR_ERROR_INVALID_ARGUMENT, function,
                  {structName + ".struct_size is 4", "tsr_*_defaults"});
  };
  tsr_device_requirements dr;
  tsr_device_requirements_defaults(&dr);
  dr.struct_size = kShort;
  expectShort(tsr_get_device_requirements(&dr), "tsr_get_device_requirements", "tsr_device_requirements");
  tsr_standalone_desc sd;
  tsr_standalone_desc_defaults(&sd);
  sd.struct_size = kShort;
  tsr_context c = nullptr;
  expectShort(tsr_context_create_standalone(&sd, &c), "tsr_context_create_standalone", "tsr_standalone_desc");
  tsr_context_info ci;
  tsr_context_info_defaults(&ci);
  ci.struct_size = kShort;
  expectShort(tsr_context_get_info(context(), &ci), "tsr_context_get_info", "tsr_context_info");
  tsr_model_info mi;
  tsr_model_info_defaults(&mi);
  mi.struct_size = kShort;
  expectShort(tsr_model_get_info(model(), &mi), "tsr_model_get_info", "tsr_model_info");
  tsr_generator_desc gd;
  tsr_generator_desc_defaults(&gd);
  gd.struct_size = kShort;
  tsr_memory_requirements mr;
  tsr_memory_requirements_defaults(&mr);
  expectShort(tsr_query_memory(context(), model(), &gd, &mr), "tsr_query_memory", "tsr_generator_desc");
  tsr_generator g = nullptr;
  expectShort(tsr_generator_create(context(), model(), &gd, &g), "tsr_generator_create",
              "tsr_generator_desc");
  EXPECT_EQ(g, nullptr);
  tsr_generator_desc_defaults(&gd);
  mr.struct_size = kShort;
  expectShort(tsr_query_memory(context(), model(), &gd, &mr), "tsr_query_memory", "tsr_memory_requirements");
  tsr_progress p;
  tsr_progress_defaults(&p);
  p.struct_size = kShort;
  expectShort(tsr_generator_get_progress(gen.get(), &p), "tsr_generator_get_progress", "tsr_progress");

  // A request: the message names which one of the job.
  std::vector<uint8_t> px(16 * 16 * 4);
  tsr_request rq[2] = {request(16, 16, 1), request(16, 16, 2)};
  rq[0].output.pixels = rq[1].output.pixels = px.data();
  rq[1].struct_size = kShort;
  GeneratorPtr two = makeGenerator(context(), model(), {16, 16, 2});
  expectFailure(outcome(tsr_generate(two.get(), rq, 2, nullptr, nullptr)), TSR_ERROR_INVALID_ARGUMENT,
                "tsr_generate", {"request 1", "struct_size is 4", "tsr_request_defaults"});

  // Calls that fill a struct keep the caller's struct_size (a larger, newer one included).
  struct {
    tsr_progress p;
    uint8_t newer[32];
  } big{};
  tsr_progress_defaults(&big.p);
  big.p.struct_size = sizeof(big);
  TSR_EXPECT_OK(tsr_generator_get_progress(gen.get(), &big.p));
  EXPECT_EQ(big.p.struct_size, sizeof(big));
  tsr_memory_requirements_defaults(&mr);
  mr.struct_size = sizeof(mr) + 16;
  tsr_memory_requirements bigReq[2];
  bigReq[0] = mr;
  TSR_EXPECT_OK(tsr_query_memory(context(), model(), &gd, &bigReq[0]));
  EXPECT_EQ(bigReq[0].struct_size, sizeof(mr) + 16);
}

TEST_F(ApiContextTest, ResultNamesCoverEveryCode) {
  const std::vector<std::pair<tsr_result, const char*>> all = {
      {TSR_SUCCESS, "TSR_SUCCESS"},
      {TSR_NOT_READY, "TSR_NOT_READY"},
      {TSR_ERROR_INVALID_ARGUMENT, "TSR_ERROR_INVALID_ARGUMENT"},
      {TSR_ERROR_OUT_OF_ARENA, "TSR_ERROR_OUT_OF_ARENA"},
      {TSR_ERROR_DEVICE_FEATURE_MISSING, "TSR_ERROR_DEVICE_FEATURE_MISSING"},
      {TSR_ERROR_NO_DEVICE, "TSR_ERROR_NO_DEVICE"},
      {TSR_ERROR_VULKAN, "TSR_ERROR_VULKAN"},
      {TSR_ERROR_CORRUPT_MODEL, "TSR_ERROR_CORRUPT_MODEL"},
      {TSR_ERROR_UNSUPPORTED, "TSR_ERROR_UNSUPPORTED"},
      {TSR_ERROR_IO, "TSR_ERROR_IO"},
      {TSR_ERROR_BUSY, "TSR_ERROR_BUSY"},
      {TSR_ERROR_INTERNAL, "TSR_ERROR_INTERNAL"},
  };
  std::set<std::string> seen;
  for (const auto& [code, name] : all) {
    const char* got = tsr_result_name(code);
    ASSERT_NE(got, nullptr) << int(code);
    EXPECT_STREQ(got, name);
    seen.insert(got);
    EXPECT_EQ(code < 0, std::string(got).rfind("TSR_ERROR_", 0) == 0)
        << "errors and only errors are negative";
  }
  EXPECT_EQ(seen.size(), all.size());
  // A value outside the enum (a newer library's code) still gets a readable name.
  const char* unknown = tsr_result_name(static_cast<tsr_result>(-77));
  ASSERT_NE(unknown, nullptr);
  EXPECT_EQ(seen.count(unknown), 0u) << unknown;
}

TEST_F(ApiContextTest, VersionStringMatchesTheHeader) {
  const char* v = tsr_version_string();
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(std::string(v), std::to_string(TSR_VERSION_MAJOR) + "." + std::to_string(TSR_VERSION_MINOR) +
                                "." + std::to_string(TSR_VERSION_PATCH));
}

TEST_F(ApiContextTest, LastErrorIsPerThreadAndHoldsTheLastFailureUntilTheNext) {
  ASSERT_EQ(tsr_model_get_info(nullptr, nullptr), TSR_ERROR_INVALID_ARGUMENT);
  const std::string mine = tsr_last_error();
  EXPECT_NE(mine.find("tsr_model_get_info"), std::string::npos) << mine;
  std::string otherBefore, otherAfter;
  std::thread t([&] {
    otherBefore = tsr_last_error();
    tsr_model m = nullptr;
    tsr_model_load_file("/nonexistent/dir/x.tsr", &m);
    otherAfter = tsr_last_error();
  });
  t.join();
  EXPECT_EQ(otherBefore, "") << "a new thread starts with no message";
  EXPECT_NE(otherAfter.find("tsr_model_load_file"), std::string::npos) << otherAfter;
  EXPECT_EQ(std::string(tsr_last_error()), mine) << "another thread's failure changed this thread's message";

  // Successful calls (of any kind) leave the last failure's message in place.
  tsr_context_info info;
  tsr_context_info_defaults(&info);
  TSR_ASSERT_OK(tsr_context_get_info(context(), &info));
  tsr_device_requirements req;
  tsr_device_requirements_defaults(&req);
  TSR_ASSERT_OK(tsr_get_device_requirements(&req));
  EXPECT_EQ(std::string(tsr_last_error()), mine) << "a successful call changed the last failure's message";
  // The next failure replaces it.
  ASSERT_EQ(tsr_context_get_info(context(), nullptr), TSR_ERROR_INVALID_ARGUMENT);
  const std::string next = tsr_last_error();
  EXPECT_NE(next, mine);
  EXPECT_NE(next.find("tsr_context_get_info"), std::string::npos) << next;
}

TEST_F(ApiContextTest, CppWrapperThrowsTheResultAndMessage) {
  EXPECT_EQ(tsr::check(TSR_SUCCESS), TSR_SUCCESS);
  EXPECT_EQ(tsr::check(TSR_NOT_READY), TSR_NOT_READY) << "NOT_READY is not an error";
  try {
    tsr::Model::load("/nonexistent/dir/missing.tsr");
    ADD_FAILURE() << "no exception";
  } catch (const tsr::Error& e) {
    EXPECT_EQ(e.result(), TSR_ERROR_IO);
    const std::string what = e.what();
    EXPECT_EQ(what.rfind("TSR_ERROR_IO: tsr_model_load_file: ", 0), 0u) << what;
    EXPECT_NE(what.find("missing.tsr"), std::string::npos) << what;
  }
  tsr_standalone_desc d = tsr::standaloneDesc();
  EXPECT_EQ(d.struct_size, sizeof(d));
  d.validation = VK_TRUE;
  MessageLog log;
  d.on_validation_message = &MessageLog::callback;
  d.user = &log;
  {
    const tsr::Context ctx = tsr::Context::standalone(d);
    EXPECT_EQ(ctx.info().owns_device, VK_TRUE);
    const tsr::Model m = tsr::Model::load(defaultModelPath());
    EXPECT_EQ(m.info().class_count, 10u);
    EXPECT_EQ(m.className(99), "");
    EXPECT_EQ(m.findClass(lower(m.className(1))), 1u);
    tsr::Generator gen(ctx, m, [] {
      tsr_generator_desc g = tsr::generatorDesc();
      g.max_width = g.max_height = 16;
      return g;
    }());
    tsr_request r = tsr::request();
    EXPECT_EQ(r.struct_size, sizeof(r));
    r.width = r.height = 16;
    r.steps = 1;
    std::vector<uint8_t> px(16 * 16 * 4, 0x5A);
    r.output.pixels = px.data();
    gen.generate({&r, 1});
    EXPECT_TRUE(opaqueRgba8(px));
    EXPECT_EQ(gen.progress().complete, VK_TRUE);
    r.width = 18;
    try {
      gen.generate({&r, 1});
      ADD_FAILURE() << "no exception";
    } catch (const tsr::Error& e) {
      EXPECT_EQ(e.result(), TSR_ERROR_INVALID_ARGUMENT);
      EXPECT_NE(std::string(e.what()).find("18x16"), std::string::npos) << e.what();
    }
  }
  log.expectNoneSince(0);
}

}  // namespace
}  // namespace tessera::test::api
