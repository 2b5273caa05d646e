// Models through the public API: loading from a file and from memory (which is copied), the info
// a host reads agreeing with what the package says, class names and lookup, and damaged,
// truncated or missing packages refused with CORRUPT_MODEL / IO and a message.
#include <filesystem>
#include <random>

#include "api_fixtures.hpp"
#include "model_package.hpp"

namespace tessera::test::api {
namespace {

class ApiModelTest : public StandaloneApiTest {
 protected:
  static const model::ModelPackage& package() {
    static const model::ModelPackage p = model::ModelPackage::readFile(defaultModelPath());
    return p;
  }
  static tsr_model_info info(tsr_model m) {
    tsr_model_info i;
    tsr_model_info_defaults(&i);
    const tsr_result r = tsr_model_get_info(m, &i);
    EXPECT_EQ(r, TSR_SUCCESS) << describe(r);
    return i;
  }
};

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string alternateCase(std::string s) {
  for (std::size_t i = 0; i < s.size(); ++i)
    s[i] = char(i % 2 ? std::toupper(static_cast<unsigned char>(s[i]))
                      : std::tolower(static_cast<unsigned char>(s[i])));
  return s;
}

TEST_F(ApiModelTest, InfoAgreesWithThePackage) {
  const tsr_model_info i = info(model());
  const model::ModelPackage& p = package();
  const auto& t = p.metadata().tessera;
  const auto& config = p.layout().config;

  // What the default model is known to be.
  EXPECT_EQ(i.class_count, 10u);
  EXPECT_EQ(i.size_multiple, 4u);
  EXPECT_EQ(i.native_size, 64u);
  EXPECT_EQ(i.tileable, VK_TRUE);
  EXPECT_EQ(i.channels, 3u);

  // ... and each field derived from the package.
  EXPECT_EQ(i.channels, config.outChannels);
  EXPECT_EQ(i.class_count, t.classes.size());
  EXPECT_EQ(i.guidance == VK_TRUE, t.nullClass.has_value());
  EXPECT_EQ(i.size_multiple, 1u << (config.blockOutChannels.size() - 1)) << "one halving per down block";
  EXPECT_EQ(i.native_size, config.sampleHeight.value_or(0));
  EXPECT_EQ(i.tileable == VK_TRUE, t.paddingMode == model::PaddingMode::Circular);
  ASSERT_TRUE(t.sampler.has_value());
  EXPECT_EQ(i.default_sampler, *t.sampler == "consistency" ? TSR_SAMPLER_CONSISTENCY : TSR_SAMPLER_DPMPP_2M)
      << *t.sampler;
  EXPECT_EQ(i.default_steps, t.defaultSteps.value_or(0));
  uint32_t distilled = 0;
  for (const auto& [steps, sigmas] : t.stepSigmas) {
    EXPECT_EQ(sigmas.size(), steps);
    distilled |= 1u << steps;
  }
  EXPECT_EQ(i.consistency_steps, distilled);
  if (i.default_sampler == TSR_SAMPLER_CONSISTENCY) {
    EXPECT_NE(i.consistency_steps & (1u << i.default_steps), 0u) << "the default step count is a distilled one";
  }
  EXPECT_FLOAT_EQ(i.default_guidance, float(t.guidanceScale.value_or(1.0)));
  uint64_t params = 0, bytes = 0;
  for (const model::TsrTensor& tensor : p.tensors()) {
    params += tensor.elements();
    bytes += tensor.data.size();
  }
  EXPECT_EQ(i.parameter_count, params);
  EXPECT_EQ(i.weight_bytes, bytes);
  const auto& prov = p.metadata().provenance;
  if (prov.contains("parameters")) {
    EXPECT_EQ(i.parameter_count, prov["parameters"].get<uint64_t>());
  }
  if (prov.contains("stored_dtype") && prov["stored_dtype"] == "f16") {
    EXPECT_EQ(i.weight_bytes, 2 * i.parameter_count);
  }
  std::printf("default model: %llu parameters, %llu weight bytes, %u classes, %s %u steps\n",
              (unsigned long long)i.parameter_count, (unsigned long long)i.weight_bytes, i.class_count,
              t.sampler->c_str(), i.default_steps);
}

TEST_F(ApiModelTest, ClassNamesAndCaseInsensitiveLookup) {
  const auto& classes = package().metadata().tessera.classes;
  ASSERT_EQ(classes.size(), 10u);
  for (uint32_t i = 0; i < classes.size(); ++i) {
    const char* name = tsr_model_class_name(model(), i);
    ASSERT_NE(name, nullptr) << i;
    EXPECT_EQ(std::string(name), classes[i]);
    EXPECT_EQ(tsr_model_class_name(model(), i), name) << "the name stays where it is while the model lives";
    for (const std::string& spelling : {classes[i], upper(classes[i]), alternateCase(classes[i])}) {
      uint32_t found = 999;
      TSR_EXPECT_OK(tsr_model_find_class(model(), spelling.c_str(), &found));
      EXPECT_EQ(found, i) << spelling;
    }
  }
  EXPECT_EQ(tsr_model_class_name(model(), 10), nullptr) << "the null class has no name";
  EXPECT_EQ(tsr_model_class_name(model(), UINT32_MAX), nullptr);
  uint32_t found = 999;
  expectFailure(outcome(tsr_model_find_class(model(), "lava", &found)), TSR_ERROR_INVALID_ARGUMENT,
                "tsr_model_find_class", {"\"lava\"", classes[0], classes[9]});
  EXPECT_EQ(found, 999u) << "a failed lookup leaves the index alone";
  expectFailure(outcome(tsr_model_find_class(model(), "", &found)), TSR_ERROR_INVALID_ARGUMENT,
                "tsr_model_find_class", {"\"\""});
  expectFailure(outcome(tsr_model_find_class(model(), (classes[1] + " ").c_str(), &found)),
                TSR_ERROR_INVALID_ARGUMENT, "tsr_model_find_class", {classes[1]});
}

// The bytes are copied: the caller's buffer is overwritten and freed right after the load, and
// the model still describes itself and generates exactly what the file's model generates, on
// another context too (models are shared between contexts).
TEST_F(ApiModelTest, LoadFromMemoryCopiesTheBytes) {
  tsr_model fromMemory = nullptr;
  {
    auto bytes = std::make_unique<std::vector<std::byte>>(readFileBytes(defaultModelPath()));
    TSR_ASSERT_OK(tsr_model_load_memory(bytes->data(), bytes->size(), &fromMemory));
    std::fill(bytes->begin(), bytes->end(), std::byte{0xEE});
  }
  ModelPtr owned(fromMemory, &tsr_model_destroy);
  const tsr_model_info a = info(fromMemory), b = info(model());
  EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0) << "the same package gives the same info";
  EXPECT_STREQ(tsr_model_class_name(fromMemory, 3), tsr_model_class_name(model(), 3));

  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const tsr_request r = request(16, 16, seed, 4, 2);
  GeneratorPtr fileGen = makeGenerator(context(), model(), {16, 16, 1});
  const std::vector<uint8_t> viaFile = generateOne(fileGen.get(), r);
  MessageLog otherLog;
  {
    ContextPtr other = standaloneContext(otherLog);
    GeneratorPtr memoryGen = makeGenerator(other.get(), fromMemory, {16, 16, 1});
    const std::vector<uint8_t> viaMemory = generateOne(memoryGen.get(), r);
    EXPECT_TRUE(opaqueRgba8(viaMemory));
    EXPECT_EQ(viaMemory, viaFile) << firstDifference(viaMemory, viaFile);
  }
  otherLog.expectNoneSince(0);
}

TEST_F(ApiModelTest, DamagedPackagesAreRefusedAsCorrupt) {
  const std::vector<std::byte> good = readFileBytes(defaultModelPath());
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // The header, the section table, the metadata, the tensor index, somewhere in the weights, and
  // the last byte: every byte of a package is covered by a checksum or checked padding.
  std::vector<std::size_t> positions = {0, 20, 64 + 10, 192 + 5, 4096, good.size() / 2, good.size() - 1};
  for (int k = 0; k < 4; ++k) positions.push_back(std::size_t(rng() % good.size()));
  for (std::size_t pos : positions) {
    const int bit = int(rng() % 8);
    SCOPED_TRACE("bit " + std::to_string(bit) + " of byte " + std::to_string(pos));
    std::vector<std::byte> bad = good;
    bad[pos] ^= std::byte(1u << bit);
    tsr_model m = reinterpret_cast<tsr_model>(0x1);
    const Outcome o = outcome(tsr_model_load_memory(bad.data(), bad.size(), &m));
    expectFailure(o, TSR_ERROR_CORRUPT_MODEL, "tsr_model_load_memory", {});
    EXPECT_GT(o.message.size(), std::string("tsr_model_load_memory: ").size() + 10)
        << "a message naming the damage";
    EXPECT_EQ(m, nullptr);
    if (o.result == TSR_SUCCESS) tsr_model_destroy(m);
  }

  // Truncated, from memory and from a file (the message then names the file).
  for (std::size_t size :
       {std::size_t(0), std::size_t(63), std::size_t(1000), good.size() / 2, good.size() - 1}) {
    SCOPED_TRACE("truncated to " + std::to_string(size) + " bytes");
    tsr_model m = nullptr;
    const std::byte* data = size ? good.data() : reinterpret_cast<const std::byte*>("");
    expectFailure(outcome(tsr_model_load_memory(data, size, &m)), TSR_ERROR_CORRUPT_MODEL,
                  "tsr_model_load_memory", {});
    EXPECT_EQ(m, nullptr);
  }
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("tessera_api_model_" + std::to_string(seed));
  std::filesystem::create_directories(dir);
  const std::filesystem::path truncated = dir / "truncated.tsr";
  {
    std::ofstream out(truncated, std::ios::binary);
    out.write(reinterpret_cast<const char*>(good.data()), std::streamsize(good.size() - 100));
  }
  tsr_model m = nullptr;
  expectFailure(outcome(tsr_model_load_file(truncated.c_str(), &m)), TSR_ERROR_CORRUPT_MODEL,
                "tsr_model_load_file", {"truncated.tsr"});
  EXPECT_EQ(m, nullptr);
  std::filesystem::remove_all(dir);
}

TEST_F(ApiModelTest, MissingFilesAreIoErrors) {
  tsr_model m = nullptr;
  const std::string missing = "/nonexistent/tessera/no-model-here.tsr";
  expectFailure(outcome(tsr_model_load_file(missing.c_str(), &m)), TSR_ERROR_IO, "tsr_model_load_file",
                {missing});
  EXPECT_EQ(m, nullptr);
  // A directory is not a package either.
  const std::string dir = TESSERA_SOURCE_MODELS_DIR;
  expectFailure(outcome(tsr_model_load_file(dir.c_str(), &m)), TSR_ERROR_IO, "tsr_model_load_file", {dir});
  EXPECT_EQ(m, nullptr);
}

}  // namespace
}  // namespace tessera::test::api
