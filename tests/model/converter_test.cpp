// The converter and the package reader together: a checkpoint converts to a package that holds
// its values exactly (fp32) or rounded to nearest (fp16); a checkpoint that does not match its
// config, or a package whose metadata or tensors do not match, is refused naming the tensor.
#include "converter.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "file_io.hpp"
#include "model_fixtures.hpp"
#include "model_package.hpp"
#include "op_harness.hpp"

namespace tessera::model {
namespace {

using test::expectError;
using test::freshSeed;
namespace fs = std::filesystem;

ConvertResult convert(const Json& config, const std::vector<SafeTensorIn>& ckpt, DType dtype = DType::F32,
                      const std::optional<Json>& scheduler = std::nullopt) {
  const std::vector<std::byte> st = writeSafetensors(ckpt);
  const SafetensorsFile f = SafetensorsFile::parse(asBytes(st));
  return convertModel(config, f, scheduler, Json::object(), ConvertOptions{dtype});
}

std::vector<float> values(const SafeTensorIn& t) {
  SafeTensor view{t.name, t.dtype, t.shape, asBytes(t.data)};
  return toFloat32(view);
}

class Converter : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = freshSeed();
    rng_.seed(seed_);
  }
  std::string trace() const { return "seed " + std::to_string(seed_); }
  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

TEST_F(Converter, EveryValueArrivesExactlyFromEachSourceDtype) {
  SCOPED_TRACE(trace());
  for (SafeDType src : {SafeDType::F32, SafeDType::F16, SafeDType::BF16}) {
    const auto ckpt = fixtures::randomCheckpoint(fixtures::tinyConfig(), rng_, src);
    const ConvertResult r = convert(fixtures::tinyConfig(), ckpt);
    const ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
    ASSERT_EQ(p.tensors().size(), ckpt.size());
    uint64_t params = 0;
    for (const SafeTensorIn& t : ckpt) {
      const TsrTensor& got = p.tensor(t.name);
      EXPECT_EQ(got.dtype, DType::F32);
      EXPECT_EQ(std::vector<uint64_t>(got.shape.begin(), got.shape.end()), t.shape) << t.name;
      const std::vector<float> want = values(t), have = toFloat32(got);
      ASSERT_EQ(have.size(), want.size());
      for (std::size_t i = 0; i < want.size(); ++i) ASSERT_EQ(have[i], want[i]) << t.name << "[" << i << "]";
      params += want.size();
    }
    EXPECT_EQ(r.summary.parameters, params);
    EXPECT_EQ(r.summary.tensors, ckpt.size());
    EXPECT_EQ(r.summary.packageBytes, r.package.size());
    EXPECT_EQ(p.metadata().tessera.paddingMode, PaddingMode::Circular);
    EXPECT_EQ(p.metadata().tessera.classes, (std::vector<std::string>{"brick", "moss"}));
    EXPECT_EQ(p.metadata().architecture.toJson(), parseSourceConfig(fixtures::tinyConfig()).unet.toJson());
  }
}

TEST_F(Converter, Fp16PackageRoundsEachValueToTheNearestHalf) {
  SCOPED_TRACE(trace());
  const auto ckpt = fixtures::randomCheckpoint(fixtures::tinyConfig(), rng_);
  const ConvertResult r = convert(fixtures::tinyConfig(), ckpt, DType::F16);
  const ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
  for (const SafeTensorIn& t : ckpt) {
    const TsrTensor& got = p.tensor(t.name);
    ASSERT_EQ(got.dtype, DType::F16);
    const std::vector<float> want = values(t), have = toFloat32(got);
    for (std::size_t i = 0; i < want.size(); ++i) {
      // Half has 11 significant bits: the nearest is within half an ulp, 2^-11 relative.
      const double tol = std::ldexp(std::fabs(double(want[i])), -11) + std::ldexp(1.0, -25);
      ASSERT_LE(std::fabs(double(have[i]) - want[i]), tol) << t.name << "[" << i << "]";
    }
  }
  EXPECT_LT(r.summary.weightBytes, r.summary.parameters * 2 + 1);
}

TEST_F(Converter, MissingExtraAndMisshapenTensorsAreNamed) {
  const Json cfg = fixtures::tinyConfig();
  auto ckpt = fixtures::randomCheckpoint(cfg, rng_);
  auto missing = ckpt;
  missing.erase(missing.begin() + 7);
  expectError([&] { convert(cfg, missing); }, ErrorCode::CorruptModel,
              "lacks 1 tensor(s) the config implies: \"" + ckpt[7].name + "\"");
  auto extra = ckpt;
  extra.push_back(fixtures::randomCheckpoint(cfg, rng_)[0]);
  extra.back().name = "down_blocks.0.attentions.0.to_q.weight";
  expectError([&] { convert(cfg, extra); }, ErrorCode::CorruptModel,
              "has 1 tensor(s) the config does not imply: \"down_blocks.0.attentions.0.to_q.weight\"");
  auto misshapen = ckpt;
  for (auto& t : misshapen)
    if (t.name == "down_blocks.1.resnets.0.conv1.weight") t.shape = {6, 3, 9, 1};
  expectError([&] { convert(cfg, misshapen); }, ErrorCode::CorruptModel,
              "tensor \"down_blocks.1.resnets.0.conv1.weight\" has shape [6, 3, 9, 1], the config implies "
              "[6, 3, 3, 3]");
  // Checkpoints saved before diffusers renamed the attention weights (query/key/value/proj_attn).
  auto old = ckpt;
  for (auto& t : old)
    if (t.name.find(".to_q.") != std::string::npos) t.name.replace(t.name.find(".to_q."), 6, ".query.");
  expectError([&] { convert(cfg, old); }, ErrorCode::CorruptModel, "to_q.weight");
  // A config for a different model: many differences, the message stays short.
  Json deeper = cfg;
  deeper["layers_per_block"] = 3;
  expectError([&] { convert(deeper, ckpt); }, ErrorCode::CorruptModel, " more");
}

TEST_F(Converter, NonFiniteAndOutOfRangeValuesAreRefused) {
  const Json cfg = fixtures::tinyConfig();
  auto ckpt = fixtures::randomCheckpoint(cfg, rng_);
  auto bad = ckpt;
  storeLE(bad[3].data.data() + 8, std::bit_cast<uint32_t>(std::nanf("")), 4);
  expectError([&] { convert(cfg, bad); }, ErrorCode::CorruptModel,
              "tensor \"" + bad[3].name + "\" holds a non-finite value at element 2");
  bad = ckpt;
  storeLE(bad[5].data.data(), std::bit_cast<uint32_t>(1e5f), 4);
  EXPECT_NO_THROW(convert(cfg, bad, DType::F32));
  expectError([&] { convert(cfg, bad, DType::F16); }, ErrorCode::InvalidArgument,
              "tensor \"" + bad[5].name + "\" element 0 (100000.000000) does not fit in fp16");
}

TEST_F(Converter, TrainingNoiseScheduleIsRecorded) {
  const Json cfg = fixtures::tinyConfig();
  const auto ckpt = fixtures::randomCheckpoint(cfg, rng_);
  const Json sched = {{"_class_name", "DDPMScheduler"}, {"beta_schedule", "squaredcos_cap_v2"},
                      {"beta_start", 0.0001},           {"beta_end", 0.02},
                      {"num_train_timesteps", 1000},    {"prediction_type", "v_prediction"},
                      {"clip_sample", false},           {"trained_betas", nullptr}};
  const ConvertResult r = convert(cfg, ckpt, DType::F32, sched);
  const ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
  ASSERT_TRUE(p.metadata().trainingNoiseSchedule.has_value());
  EXPECT_EQ(*p.metadata().trainingNoiseSchedule, sched);
  expectError(
      [&] {
        convert(cfg, ckpt, DType::F32, Json{{"beta_start", "small"}});
      },
      ErrorCode::InvalidArgument, "scheduler config key \"beta_start\"");
  expectError(
      [&] {
        convert(cfg, ckpt, DType::F32, Json{{"num_train_timesteps", 0}});
      },
      ErrorCode::InvalidArgument, "\"num_train_timesteps\"");
}

// Writes a package with the given metadata and the tensors of a valid one, bypassing the
// converter, to reach the reader's semantic checks.
std::vector<std::byte> repackage(const std::vector<std::byte>& valid, const Json& meta,
                                 const std::function<void(std::vector<TsrTensorIn>&)>& edit = {}) {
  const TsrContainer c = TsrContainer::parse(asBytes(valid));
  std::vector<TsrTensorIn> ts;
  for (const TsrTensor& t : c.tensors()) ts.push_back({t.name, t.dtype, t.shape, t.data});
  if (edit) edit(ts);
  return writeTsr(meta.dump(), ts);
}

TEST_F(Converter, PackageMetadataAndTensorsMustAgree) {
  const std::vector<std::byte> valid = fixtures::tinyPackage(rng_);
  const Json meta =
      parseJsonStrict(TsrContainer::parse(asBytes(valid)).metadataText(), ErrorCode::CorruptModel, "m");
  const auto refused = [&](const std::vector<std::byte>& f, const std::string& needle) {
    expectError([&] { ModelPackage::fromBytes(asBytes(f)); }, ErrorCode::CorruptModel, needle);
  };
  EXPECT_NO_THROW(ModelPackage::fromBytes(asBytes(repackage(valid, meta))));
  Json m = meta;
  m["sampler"] = "heun";
  refused(repackage(valid, m), "unknown key \"sampler\"");
  m = meta;
  m.erase("provenance");
  refused(repackage(valid, m), "\"provenance\" is missing");
  m = meta;
  m["architecture"]["act_fn"] = "gelu";
  refused(repackage(valid, m), "\"act_fn\": value \"gelu\" is not supported");
  m = meta;
  m["architecture"]["layers_per_block"] = 2;
  refused(repackage(valid, m), "which the architecture needs, is missing");
  m = meta;
  m["architecture"]["num_class_embeds"] = 4;
  refused(repackage(valid, m),
          "tensor \"class_embedding.weight\" has shape [3, 12], the architecture needs [4, 12]");
  m = meta;
  m["tessera"]["null_class"] = 7;
  refused(repackage(valid, m), "tessera.null_class");
  refused(repackage(valid, meta,
                    [](auto& ts) {
                      ts.push_back({"extra.bias", DType::F32, {1}, ts[1].data.first(4)});
                    }),
          "tensor \"extra.bias\" is not part of the architecture");
  std::vector<std::byte> withNan;
  refused(repackage(valid, meta,
                    [&](auto& ts) {
                      for (auto& t : ts)
                        if (t.name == "conv_norm_out.bias") {
                          withNan.assign(t.data.begin(), t.data.end());
                          storeLE(withNan.data() + 4, 0x7FC00000u, 4);  // element 1: a quiet NaN
                          t.data = asBytes(withNan);
                        }
                    }),
          "tensor \"conv_norm_out.bias\" holds a non-finite value at element 1");
}

// A base and its super-resolution stages in one package: each stage's tensors under its
// prefix, exactly as given; its metadata as its config said; the chain checked.
struct PipelineInput {
  std::vector<std::byte> baseSt;
  std::vector<std::vector<std::byte>> stageSt;
  std::vector<SafetensorsFile> files;
};

ConvertResult convertChain(const Json& base, const std::vector<Json>& stages, std::mt19937_64& rng,
                           std::vector<std::vector<SafeTensorIn>>* checkpoints = nullptr) {
  std::vector<std::vector<std::byte>> bytes;
  bytes.push_back(writeSafetensors(fixtures::randomCheckpoint(base, rng)));
  for (const Json& c : stages) {
    Json shapes = c;  // the checkpoint's tensors come from the architecture alone
    shapes.erase("tessera");
    auto ckpt = fixtures::randomCheckpoint(shapes, rng);
    bytes.push_back(writeSafetensors(ckpt));
    if (checkpoints) checkpoints->push_back(std::move(ckpt));
  }
  std::vector<SafetensorsFile> files;
  for (const auto& b : bytes) files.push_back(SafetensorsFile::parse(asBytes(b)));
  std::vector<StageSource> sources;
  for (std::size_t k = 0; k < stages.size(); ++k) sources.push_back({stages[k], &files[k + 1], Json::object()});
  return convertPipeline(base, files[0], std::nullopt, Json::object(), sources, ConvertOptions{DType::F32});
}

TEST_F(Converter, PipelinePackageHoldsEveryStageUnderItsPrefix) {
  SCOPED_TRACE(trace());
  std::vector<std::vector<SafeTensorIn>> ckpts;
  const ConvertResult r =
      convertChain(fixtures::tinyConfig(), {fixtures::tinySrConfig(2), fixtures::tinySrConfig(2)}, rng_, &ckpts);
  EXPECT_EQ(r.summary.stages, 3u);
  const ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
  ASSERT_EQ(p.stages().size(), 2u);
  EXPECT_EQ(p.totalScale(), 4u);
  for (std::size_t k = 0; k < 2; ++k) {
    const ModelPackage& st = p.stages()[k];
    EXPECT_EQ(st.metadata().tessera.stage, StageKind::SuperResolution);
    EXPECT_EQ(st.metadata().tessera.scaleFactor, 2u);
    EXPECT_EQ(st.metadata().tessera.condSigma, 0.05);
    EXPECT_TRUE(st.stages().empty());
    EXPECT_TRUE(st.layout().config.timestepClassEmbedding());
    // The stage's view finds its own tensors by their diffusers names, values exact.
    for (const SafeTensorIn& t : ckpts[k])
      ASSERT_EQ(toFloat32(st.tensor(t.name)), values(t)) << t.name;
    EXPECT_EQ(st.tensor("conv_in.weight").data.data(),
              p.container().find(stagePrefix(k + 1) + "conv_in.weight")->data.data());
  }
  EXPECT_NE(toFloat32(p.stages()[0].tensor("conv_in.weight")), toFloat32(p.stages()[1].tensor("conv_in.weight")));
  // A one-stage package has no stages and scale 1, as before.
  const ModelPackage one = ModelPackage::fromBytes(asBytes(fixtures::tinyPackage(rng_)));
  EXPECT_TRUE(one.stages().empty());
  EXPECT_EQ(one.totalScale(), 1u);
  EXPECT_FALSE(parseJsonStrict(one.container().metadataText(), ErrorCode::CorruptModel, "m").contains("stages"));
}

TEST_F(Converter, AChainThatDoesNotFitIsRefusedNamingTheStage) {
  SCOPED_TRACE(trace());
  const Json base = fixtures::tinyConfig();
  const auto refused = [&](const Json& b, const std::vector<Json>& stages, ErrorCode code, const std::string& needle) {
    expectError([&] { convertChain(b, stages, rng_); }, code, needle);
  };
  refused(base, {fixtures::tinySrConfig(4, 4)}, ErrorCode::InvalidArgument, "stage 1: makes 4 channels");
  Json notSr = fixtures::tinySrConfig();
  notSr["tessera"].erase("stage");
  notSr["tessera"].erase("scale_factor");
  notSr["tessera"].erase("cond_sigma");
  refused(base, {fixtures::tinySrConfig(), notSr}, ErrorCode::InvalidArgument,
          "stage 2: a stage after the base must be a super_resolution stage");
  refused(fixtures::tinySrConfig(), {}, ErrorCode::InvalidArgument, "first model of a package must be a base");
  Json noSigma = fixtures::tinySrConfig();
  noSigma["tessera"].erase("cond_sigma");
  refused(base, {noSigma}, ErrorCode::InvalidArgument, "stage 1: config key \"tessera.stage\": a super_resolution stage needs tessera.cond_sigma");
  Json three = fixtures::tinySrConfig();
  three["tessera"]["scale_factor"] = 3;
  refused(base, {three}, ErrorCode::InvalidArgument, "\"tessera.scale_factor\": value 3 is not 2 or 4");
  Json plainEmbed = fixtures::tinySrConfig();
  plainEmbed["class_embed_type"] = nullptr;
  refused(base, {plainEmbed}, ErrorCode::InvalidArgument, "needs class_embed_type \"timestep\"");
  Json baseWithScale = base;
  baseWithScale["tessera"]["scale_factor"] = 2;
  refused(baseWithScale, {}, ErrorCode::InvalidArgument, "tessera.scale_factor");
  Json baseResidual = base;
  baseResidual["tessera"]["residual"] = true;
  refused(baseResidual, {}, ErrorCode::InvalidArgument, "\"tessera.residual\": value true is not allowed outside a super_resolution stage");
  Json residualText = fixtures::tinySrConfig();
  residualText["tessera"]["residual"] = "yes";
  refused(base, {residualText}, ErrorCode::InvalidArgument, "\"tessera.residual\": value \"yes\" is not true or false");
}

TEST_F(Converter, AResidualStageKeepsItsFormThroughThePackage) {
  Json residual = fixtures::tinySrConfig(2);
  residual["tessera"]["residual"] = true;
  const ConvertResult r = convertChain(fixtures::tinyConfig(), {residual, fixtures::tinySrConfig(2)}, rng_);
  const ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
  ASSERT_EQ(p.stages().size(), 2u);
  EXPECT_TRUE(p.stages()[0].metadata().tessera.residual);
  EXPECT_FALSE(p.stages()[1].metadata().tessera.residual);
  EXPECT_FALSE(p.metadata().tessera.residual);
  const Json meta = parseJsonStrict(p.container().metadataText(), ErrorCode::CorruptModel, "m");
  EXPECT_EQ(meta["stages"][0]["tessera"]["residual"], true);
  EXPECT_FALSE(meta["stages"][1]["tessera"].contains("residual"));  // the plain form writes no key
}

TEST_F(Converter, PipelinePackageMetadataAndTensorsMustAgree) {
  const ConvertResult r = convertChain(fixtures::tinyConfig(), {fixtures::tinySrConfig(4)}, rng_);
  const std::vector<std::byte>& valid = r.package;
  const Json meta =
      parseJsonStrict(TsrContainer::parse(asBytes(valid)).metadataText(), ErrorCode::CorruptModel, "m");
  const auto refused = [&](const std::vector<std::byte>& f, const std::string& needle) {
    expectError([&] { ModelPackage::fromBytes(asBytes(f)); }, ErrorCode::CorruptModel, needle);
  };
  EXPECT_NO_THROW(ModelPackage::fromBytes(asBytes(repackage(valid, meta))));
  Json m = meta;
  m.erase("stages");
  refused(repackage(valid, m), "tensor \"stages.1.conv_in.weight\" is not part of the architecture");
  m = meta;
  m["stages"].push_back(meta["stages"][0]);
  refused(repackage(valid, m), "tensor \"stages.2.conv_in.weight\", which the architecture needs, is missing");
  m = meta;
  m["stages"][0]["architecture"]["out_channels"] = 4;
  m["stages"][0]["architecture"]["in_channels"] = 8;
  refused(repackage(valid, m), "stage 1: makes 4 channels");
  m = meta;
  m["stages"][0].erase("provenance");
  refused(repackage(valid, m), "stages[0]: key \"provenance\" is missing");
  m = meta;
  m["stages"] = Json::array();
  refused(repackage(valid, m), "a list of 1 to 8 stages");
}

class ConverterFolders : public Converter {
 protected:
  void SetUp() override {
    Converter::SetUp();
    dir_ = fs::temp_directory_path() / ("tessera_convert_" + std::to_string(seed_));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void writeModel(const fs::path& d, const Json& config) {
    fs::create_directories(d);
    std::ofstream(d / "config.json") << config.dump(1);
    const auto st = writeSafetensors(fixtures::randomCheckpoint(config, rng_), {{"format", "pt"}});
    writeFileAtomically(d / "diffusion_pytorch_model.safetensors", asBytes(st));
  }
  fs::path dir_;
};

TEST_F(ConverterFolders, ModelFolderPipelineFolderAndSchedulerBesideTheModel) {
  const Json sched = {{"_class_name", "EulerDiscreteScheduler"}, {"beta_schedule", "linear"}};
  writeModel(dir_ / "plain", fixtures::tinyConfig());
  ConvertResult r = convertModelDir(dir_ / "plain", {});
  EXPECT_TRUE(r.summary.schedulerPath.empty());
  ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
  // No scheduler anywhere: diffusers' DDPMScheduler defaults, and a warning naming what is missing.
  ASSERT_TRUE(p.metadata().trainingNoiseSchedule);
  EXPECT_EQ(*p.metadata().trainingNoiseSchedule, (Json{{"_class_name", "DDPMScheduler"}}));
  ASSERT_EQ(r.summary.warnings.size(), 1u);
  EXPECT_NE(r.summary.warnings[0].find("no scheduler config"), std::string::npos);
  EXPECT_NE(r.summary.warnings[0].find("--scheduler"), std::string::npos);
  EXPECT_EQ(r.summary.sampler, "ddpm");
  EXPECT_EQ(p.metadata().provenance["source_weights"], "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(p.metadata().provenance["source_weights_metadata"]["format"], "pt");
  EXPECT_EQ(p.metadata().provenance["source_weights_crc32"].get<std::string>().size(), 8u);

  writeModel(dir_ / "pipe" / "unet", fixtures::tinyConfig());
  fs::create_directories(dir_ / "pipe" / "scheduler");
  std::ofstream(dir_ / "pipe" / "scheduler" / "scheduler_config.json") << sched.dump();
  for (const fs::path& d : {dir_ / "pipe", dir_ / "pipe" / "unet"}) {
    r = convertModelDir(d, {DType::F16});
    p = ModelPackage::fromBytes(asBytes(r.package));
    ASSERT_TRUE(p.metadata().trainingNoiseSchedule) << d;
    EXPECT_EQ(*p.metadata().trainingNoiseSchedule, sched);
    EXPECT_EQ(p.tensors()[0].dtype, DType::F16);
  }
  std::ofstream(dir_ / "plain" / "scheduler_config.json") << sched.dump();
  EXPECT_TRUE(ModelPackage::fromBytes(asBytes(convertModelDir(dir_ / "plain", {}).package))
                  .metadata()
                  .trainingNoiseSchedule);
  EXPECT_EQ(convertModelDir(dir_ / "plain", {}).summary.sampler, "euler");
  // Nothing machine-specific is recorded: the folder's path appears nowhere in the package.
  const std::string text(reinterpret_cast<const char*>(r.package.data()), r.package.size());
  EXPECT_EQ(text.find(dir_.string()), std::string::npos);
}

TEST_F(ConverterFolders, FolderProblemsAreNamed) {
  expectError([&] { convertModelDir(dir_ / "absent", {}); }, ErrorCode::Io, "not a directory");
  fs::create_directories(dir_ / "empty");
  expectError([&] { convertModelDir(dir_ / "empty", {}); }, ErrorCode::Io, "no config.json (expected a diffusers UNet2DModel folder");
  writeModel(dir_ / "bin", fixtures::tinyConfig());
  fs::rename(dir_ / "bin" / "diffusion_pytorch_model.safetensors",
             dir_ / "bin" / "diffusion_pytorch_model.bin");
  expectError([&] { convertModelDir(dir_ / "bin", {}); }, ErrorCode::Io, "only a .bin pickle");
  expectError([&] { convertModelDir(dir_ / "bin", {}); }, ErrorCode::Io, "save_pretrained(DIR, safe_serialization=True)");
  writeModel(dir_ / "badjson", fixtures::tinyConfig());
  std::ofstream(dir_ / "badjson" / "config.json") << "{\"_class_name\": \"UNet2DModel\",}";
  expectError([&] { convertModelDir(dir_ / "badjson", {}); }, ErrorCode::CorruptModel,
              "config.json: not valid JSON");
  writeModel(dir_ / "badst", fixtures::tinyConfig());
  std::ofstream(dir_ / "badst" / "diffusion_pytorch_model.safetensors") << "12345678";
  expectError([&] { convertModelDir(dir_ / "badst", {}); }, ErrorCode::CorruptModel,
              "diffusion_pytorch_model.safetensors: safetensors: header length");
}

// model_index.json names the subfolders (not necessarily unet/ and scheduler/), and class names.
TEST_F(ConverterFolders, PipelineFolderByModelIndex) {
  Json config = fixtures::tinyConfig();
  config["tessera"].erase("classes");
  config["tessera"].erase("null_class");
  const fs::path pipe = dir_ / "cm";
  writeModel(pipe / "denoiser", config);
  fs::create_directories(pipe / "noise");
  const Json cm = {{"_class_name", "CMStochasticIterativeScheduler"}, {"num_train_timesteps", 40},
                   {"sigma_min", 0.002}, {"sigma_max", 80.0}, {"sigma_data", 0.5}, {"s_noise", 1.0},
                   {"rho", 7.0}, {"clip_denoised", true}};
  std::ofstream(pipe / "noise" / "scheduler_config.json") << cm.dump();
  Json index = {{"_class_name", "ConsistencyModelPipeline"}, {"_diffusers_version", "0.25.0"},
                {"unet", {"diffusers", "UNet2DModel"}}, {"noise", {"diffusers", "CMStochasticIterativeScheduler"}}};
  std::ofstream(pipe / "model_index.json") << index.dump();
  // An index pointing at a missing UNet subfolder is named.
  expectError([&] { convertModelDir(pipe, {}); }, ErrorCode::Io, "no config.json");
  index.erase("unet");
  index["denoiser"] = {"diffusers", "UNet2DModel"};
  std::ofstream(pipe / "model_index.json") << index.dump();
  ConvertResult r = convertModelDir(pipe, {});
  EXPECT_EQ(r.summary.sampler, "consistency");
  EXPECT_TRUE(r.summary.warnings.empty());
  ModelPackage p = ModelPackage::fromBytes(asBytes(r.package));
  EXPECT_EQ((*p.metadata().trainingNoiseSchedule)["_class_name"], "CMStochasticIterativeScheduler");
  // Labels without a null class: each is a class, named by number.
  EXPECT_EQ(p.metadata().tessera.classes, (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_FALSE(p.metadata().tessera.nullClass);
  // id2label names them (the first of each comma-separated list).
  index["id2label"] = {{"0", "brick, wall"}, {"1", "grass"}, {"2", "wood"}};
  std::ofstream(pipe / "model_index.json") << index.dump();
  p = ModelPackage::fromBytes(asBytes(convertModelDir(pipe, {}).package));
  EXPECT_EQ(p.metadata().tessera.classes, (std::vector<std::string>{"brick", "grass", "wood"}));
  // --scheduler overrides the index's; an unknown scheduler class is refused with its name.
  const Json other = {{"_class_name", "PNDMScheduler"}};
  std::ofstream(dir_ / "pndm.json") << other.dump();
  ConvertOptions o;
  o.scheduler = dir_ / "pndm.json";
  expectError([&] { convertModelDir(pipe, o); }, ErrorCode::Unsupported, "scheduler class \"PNDMScheduler\"");
  std::ofstream(dir_ / "ddim.json") << Json{{"_class_name", "DDIMScheduler"}}.dump();
  o.scheduler = dir_ / "ddim.json";
  EXPECT_EQ(convertModelDir(pipe, o).summary.sampler, "ddim");
  o.scheduler = dir_ / "nothing.json";
  expectError([&] { convertModelDir(pipe, o); }, ErrorCode::Io, "no such scheduler config");
  // The index must name a UNet2DModel.
  std::ofstream(pipe / "model_index.json") << Json{{"unet", {"diffusers", "UNet2DConditionModel"}}}.dump();
  expectError([&] { convertModelDir(pipe, {}); }, ErrorCode::Unsupported, "no UNet2DModel (it has: unet (UNet2DConditionModel))");
}

// The hub's fp16 variant file name is read when the full-precision one is absent.
TEST_F(ConverterFolders, Fp16VariantWeights) {
  writeModel(dir_ / "v", fixtures::tinyConfig());
  fs::rename(dir_ / "v" / "diffusion_pytorch_model.safetensors", dir_ / "v" / "diffusion_pytorch_model.fp16.safetensors");
  const ConvertResult r = convertModelDir(dir_ / "v", {});
  EXPECT_EQ(r.summary.weightsPath.filename(), "diffusion_pytorch_model.fp16.safetensors");
}

// What the converter accepts, the runtime samples: channel layouts and scheduler variance types
// it could not run are refused at conversion, naming the key.
TEST_F(ConverterFolders, RefusesWhatTheGeneratorCannotSample) {
  Json config = fixtures::tinyConfig();
  config["out_channels"] = 5;
  writeModel(dir_ / "odd", config);
  expectError([&] { convertModelDir(dir_ / "odd", {}); }, ErrorCode::Unsupported, "config key \"out_channels\"");
  writeModel(dir_ / "lv", fixtures::tinyConfig());
  std::ofstream(dir_ / "lv" / "scheduler_config.json")
      << Json{{"_class_name", "DDPMScheduler"}, {"variance_type", "learned_range"}}.dump();
  expectError([&] { convertModelDir(dir_ / "lv", {}); }, ErrorCode::Unsupported, "\"variance_type\": \"learned_range\"");
  config = fixtures::tinyConfig();
  config["out_channels"] = 2 * config["in_channels"].get<int>();
  writeModel(dir_ / "lv2", config);
  std::ofstream(dir_ / "lv2" / "scheduler_config.json")
      << Json{{"_class_name", "DDPMScheduler"}, {"variance_type", "learned_range"}}.dump();
  EXPECT_EQ(convertModelDir(dir_ / "lv2", {}).summary.sampler, "ddpm");
  std::ofstream(dir_ / "lv2" / "scheduler_config.json")
      << Json{{"_class_name", "DDPMScheduler"}, {"timestep_type", "continuous"}}.dump();
  expectError([&] { convertModelDir(dir_ / "lv2", {}); }, ErrorCode::Unsupported, "key \"timestep_type\"");
}

}  // namespace
}  // namespace tessera::model
