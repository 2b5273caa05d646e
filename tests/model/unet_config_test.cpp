// The diffusers UNet2DModel config subset: every supported key and value is accepted, any other
// key or value is refused naming it, and the derived tensors are those diffusers builds.
#include "unet_config.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "model_fixtures.hpp"
#include "model_metadata.hpp"
#include "op_harness.hpp"
#include "unet_layout.hpp"

namespace tessera::model {
namespace {

using test::expectError;

Json base() { return fixtures::tinyConfig(); }

UnetConfig parse(const Json& j) { return parseSourceConfig(j).unet; }

Json with(Json j, const std::string& key, const Json& value) {
  j[key] = value;
  return j;
}

uint64_t parameters(const UnetLayout& l) {
  uint64_t n = 0;
  for (const TensorSpec& t : l.tensors()) {
    uint64_t c = 1;
    for (uint32_t d : t.shape) c *= d;
    n += c;
  }
  return n;
}

// diffusers' defaults, as UNet2DModel.__init__ declares them.
TEST(UnetConfig, DefaultsAreDiffusersDefaults) {
  const UnetConfig c = UnetConfig::fromJson(Json{{"_class_name", "UNet2DModel"}});
  const Json want = {
      {"_class_name", "UNet2DModel"},
      {"sample_size", nullptr},
      {"in_channels", 3},
      {"out_channels", 3},
      {"center_input_sample", false},
      {"time_embedding_type", "positional"},
      {"time_embedding_dim", nullptr},
      {"freq_shift", 0},
      {"flip_sin_to_cos", true},
      {"down_block_types", {"DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"}},
      {"mid_block_type", "UNetMidBlock2D"},
      {"up_block_types", {"AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"}},
      {"block_out_channels", {224, 448, 672, 896}},
      {"layers_per_block", 2},
      {"mid_block_scale_factor", 1.0},
      {"downsample_padding", 1},
      {"downsample_type", "conv"},
      {"upsample_type", "conv"},
      {"dropout", 0.0},
      {"act_fn", "silu"},
      {"attention_head_dim", 8},
      {"norm_num_groups", 32},
      {"attn_norm_num_groups", nullptr},
      {"norm_eps", 1e-5},
      {"resnet_time_scale_shift", "default"},
      {"add_attention", true},
      {"class_embed_type", nullptr},
      {"num_class_embeds", nullptr},
      {"num_train_timesteps", nullptr}};
  EXPECT_EQ(c.toJson(), want) << c.toJson().dump(1);
  // The canonical form parses back to itself.
  EXPECT_EQ(UnetConfig::fromJson(c.toJson()).toJson(), want);
}

// google/ddpm-cifar10-32 (the DDPM paper's CIFAR-10 model): 35,746,307 parameters in 328 tensors,
// as PyTorch counts them for diffusers' module tree.
TEST(UnetConfig, DdpmCifar10ParameterCountMatchesPyTorch) {
  const Json cfg = {{"_class_name", "UNet2DModel"},
                    {"_diffusers_version", "0.1.1"},
                    {"block_out_channels", {128, 256, 256, 256}},
                    {"layers_per_block", 2},
                    {"down_block_types", {"DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"}},
                    {"up_block_types", {"UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"}},
                    {"attention_head_dim", nullptr},
                    {"norm_eps", 1e-6},
                    {"sample_size", 32}};
  const UnetLayout l = UnetLayout::derive(UnetConfig::fromJson(cfg));
  EXPECT_EQ(l.tensors().size(), 328u);
  EXPECT_EQ(parameters(l), 35746307u);
}

// tessera's own 64x64 model (tools/train/unet.py TESSERA_CONFIG): 2,857,219 parameters, 185 tensors.
TEST(UnetConfig, TesseraModelParameterCountMatchesPyTorch) {
  const Json cfg = {{"_class_name", "UNet2DModel"},
                    {"sample_size", 64},
                    {"down_block_types", {"DownBlock2D", "DownBlock2D", "AttnDownBlock2D"}},
                    {"up_block_types", {"AttnUpBlock2D", "UpBlock2D", "UpBlock2D"}},
                    {"block_out_channels", {32, 64, 128}},
                    {"layers_per_block", 1},
                    {"attention_head_dim", 32},
                    {"attn_norm_num_groups", 32},
                    {"resnet_time_scale_shift", "scale_shift"},
                    {"num_class_embeds", 11}};
  const UnetLayout l = UnetLayout::derive(UnetConfig::fromJson(cfg));
  EXPECT_EQ(l.tensors().size(), 185u);
  EXPECT_EQ(parameters(l), 2857219u);
}

TEST(UnetConfig, TensorNamesAndShapesFollowDiffusers) {
  const UnetLayout l = UnetLayout::derive(parse(base()));
  std::map<std::string, std::vector<uint32_t>> t;
  for (const TensorSpec& s : l.tensors())
    ASSERT_TRUE(t.emplace(s.name, s.shape).second) << "twice: " << s.name;
  // block_out_channels [3, 6], one layer, scale_shift, 3 classes, time embedding 4 x 3 = 12.
  const std::map<std::string, std::vector<uint32_t>> want = {
      {"conv_in.weight", {3, 3, 3, 3}},
      {"time_embedding.linear_1.weight", {12, 3}},
      {"time_embedding.linear_2.weight", {12, 12}},
      {"class_embedding.weight", {3, 12}},
      {"down_blocks.0.resnets.0.time_emb_proj.weight", {6, 12}},
      {"down_blocks.0.downsamplers.0.conv.weight", {3, 3, 3, 3}},
      {"down_blocks.1.resnets.0.conv_shortcut.weight", {6, 3, 1, 1}},
      {"down_blocks.1.resnets.0.time_emb_proj.weight", {12, 12}},
      {"down_blocks.1.attentions.0.group_norm.weight", {6}},
      {"down_blocks.1.attentions.0.to_q.weight", {6, 6}},
      {"down_blocks.1.attentions.0.to_out.0.bias", {6}},
      {"mid_block.resnets.1.conv2.weight", {6, 6, 3, 3}},
      {"mid_block.attentions.0.to_k.weight", {6, 6}},
      {"up_blocks.0.resnets.0.norm1.weight", {12}},
      {"up_blocks.0.resnets.1.conv_shortcut.weight", {6, 9, 1, 1}},
      {"up_blocks.0.attentions.1.to_v.bias", {6}},
      {"up_blocks.0.upsamplers.0.conv.weight", {6, 6, 3, 3}},
      {"up_blocks.1.resnets.0.conv1.weight", {3, 9, 3, 3}},
      {"up_blocks.1.resnets.1.conv_shortcut.weight", {3, 6, 1, 1}},
      {"conv_norm_out.bias", {3}},
      {"conv_out.weight", {3, 3, 3, 3}}};
  for (const auto& [name, shape] : want) {
    ASSERT_TRUE(t.count(name)) << name;
    EXPECT_EQ(t[name], shape) << name;
  }
  // scale_shift without attn_norm_num_groups: diffusers gives the mid attention no GroupNorm.
  EXPECT_FALSE(t.count("mid_block.attentions.0.group_norm.weight"));
  EXPECT_FALSE(t.count("down_blocks.1.downsamplers.0.conv.weight"));  // the last level does not downsample
  EXPECT_FALSE(t.count("up_blocks.1.upsamplers.0.conv.weight"));
}

// The up path consumes the down path's skip tensors last-in first-out; each up resnet's
// concatenated channel count must be that of the tensor it pops.
TEST(UnetConfig, SkipChannelsMatchTheDownPath) {
  const std::vector<Json> configs = {
      base(),
      with(with(with(base(), "block_out_channels", {3, 6, 9}), "down_block_types",
                {"ResnetDownsampleBlock2D", "AttnDownBlock2D", "DownBlock2D"}),
           "up_block_types", {"UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D"}),
      with(with(with(base(), "layers_per_block", 3), "downsample_type", "resnet"), "upsample_type",
           "resnet")};
  for (const Json& cfg : configs) {
    const UnetLayout l = UnetLayout::derive(parse(cfg));
    std::vector<uint32_t> stack = {l.config.blockOutChannels[0]};
    for (const BlockLayout& b : l.down) {
      for (const ResnetLayout& r : b.resnets) stack.push_back(r.outChannels);
      if (b.resampler.kind != ResamplerLayout::Kind::None) stack.push_back(b.resampler.channels);
    }
    uint32_t hidden = l.config.blockOutChannels.back();
    for (const BlockLayout& b : l.up) {
      for (const ResnetLayout& r : b.resnets) {
        ASSERT_FALSE(stack.empty()) << r.prefix;
        EXPECT_EQ(r.concatChannels, stack.back()) << r.prefix;
        EXPECT_EQ(r.inChannels, hidden + stack.back()) << r.prefix;
        stack.pop_back();
        hidden = r.outChannels;
      }
    }
    EXPECT_TRUE(stack.empty()) << cfg.dump();
  }
}

struct Accepted {
  std::string key;
  Json value;
  std::function<bool(const UnetConfig&)> check;
};

TEST(UnetConfig, EverySupportedKeyAndValueIsAccepted) {
  const std::vector<Accepted> cases = {
      {"sample_size", nullptr, [](auto& c) { return !c.sampleHeight; }},
      {"sample_size", 32, [](auto& c) { return c.sampleHeight == 32u && c.sampleWidth == 32u; }},
      {"sample_size", {16, 24}, [](auto& c) { return c.sampleHeight == 16u && c.sampleWidth == 24u; }},
      {"in_channels", 13, [](auto& c) { return c.inChannels == 13; }},
      {"out_channels", 13, [](auto& c) { return c.outChannels == 13; }},
      {"center_input_sample", true, [](auto& c) { return c.centerInputSample; }},
      {"time_embedding_type", "positional", [](auto&) { return true; }},
      {"time_embedding_dim", nullptr, [](auto& c) { return c.timeEmbedDim() == 12; }},
      {"time_embedding_dim", 20, [](auto& c) { return c.timeEmbedDim() == 20; }},
      {"freq_shift", 2, [](auto& c) { return c.freqShift == 2; }},
      {"freq_shift", -1, [](auto& c) { return c.freqShift == -1; }},
      {"flip_sin_to_cos", false, [](auto& c) { return !c.flipSinToCos; }},
      {"down_block_types",
       {"ResnetDownsampleBlock2D", "DownBlock2D"},
       [](auto& c) { return c.downBlocks[0] == DownBlockType::ResnetDownsample; }},
      {"down_block_types",
       {"AttnDownBlock2D", "AttnDownBlock2D"},
       [](auto& c) { return c.downBlocks[0] == DownBlockType::AttnDown; }},
      {"up_block_types",
       {"ResnetUpsampleBlock2D", "AttnUpBlock2D"},
       [](auto& c) {
         return c.upBlocks[0] == UpBlockType::ResnetUpsample && c.upBlocks[1] == UpBlockType::AttnUp;
       }},
      {"up_block_types",
       {"UpBlock2D", "UpBlock2D"},
       [](auto& c) { return c.upBlocks[0] == UpBlockType::Up; }},
      {"mid_block_type", "UNetMidBlock2D", [](auto& c) { return c.hasMidBlock; }},
      {"mid_block_type", nullptr, [](auto& c) { return !c.hasMidBlock; }},
      {"block_out_channels", {6, 9}, [](auto& c) { return c.blockOutChannels[1] == 9; }},
      {"layers_per_block", 3, [](auto& c) { return c.layersPerBlock == 3; }},
      {"mid_block_scale_factor", 1.4142, [](auto& c) { return c.midBlockScaleFactor == 1.4142; }},
      {"downsample_padding", 0, [](auto& c) { return c.downsamplePadding == 0; }},
      {"downsample_type", "resnet", [](auto& c) { return c.downsampleType == ResampleType::Resnet; }},
      {"downsample_type", "conv", [](auto& c) { return c.downsampleType == ResampleType::Conv; }},
      {"upsample_type", "resnet", [](auto& c) { return c.upsampleType == ResampleType::Resnet; }},
      {"dropout", 0.1, [](auto& c) { return c.dropout == 0.1; }},
      {"act_fn", "silu", [](auto& c) { return c.actFn == "silu"; }},
      {"act_fn", "swish", [](auto& c) { return c.actFn == "swish"; }},
      {"attention_head_dim", nullptr, [](auto& c) { return !c.attentionHeadDim; }},
      {"attention_head_dim", 6, [](auto& c) { return c.attentionHeadDim == 6u; }},
      {"norm_num_groups", 1, [](auto& c) { return c.normNumGroups == 1; }},
      {"attn_norm_num_groups", 2, [](auto& c) { return c.attnNormNumGroups == 2u; }},
      {"attn_norm_num_groups", nullptr, [](auto& c) { return !c.attnNormNumGroups; }},
      {"norm_eps", 1e-6, [](auto& c) { return c.normEps == 1e-6; }},
      {"resnet_time_scale_shift", "default",
       [](auto& c) { return c.resnetTimeScaleShift == TimeScaleShift::Default; }},
      {"add_attention", false, [](auto& c) { return !c.addAttention; }},
      {"class_embed_type", nullptr, [](auto&) { return true; }},
      {"num_class_embeds", nullptr, [](auto& c) { return !c.numClassEmbeds; }},
      {"num_class_embeds", 40, [](auto& c) { return c.numClassEmbeds == 40u; }},
      {"num_train_timesteps", 1000, [](auto& c) { return c.numTrainTimesteps == 1000u; }},
      {"_diffusers_version", "0.27.2", [](auto& c) { return c.diffusersVersion == "0.27.2"; }},
      {"_name_or_path", "google/ddpm-cifar10-32", [](auto&) { return true; }},
  };
  for (const Accepted& a : cases) {
    Json cfg = with(base(), a.key, a.value);
    if (a.key == "num_class_embeds" && a.value.is_null()) cfg["tessera"] = Json::object();
    UnetConfig c;
    ASSERT_NO_THROW(c = parse(cfg)) << a.key << " = " << a.value.dump();
    EXPECT_TRUE(a.check(c)) << a.key << " = " << a.value.dump();
    EXPECT_EQ(UnetConfig::fromJson(c.toJson()).toJson(), c.toJson()) << a.key;
  }
}

TEST(UnetConfig, TimestepClassEmbeddingTakesFloatLabelsAndNoClassCount) {
  Json cfg = with(base(), "class_embed_type", "timestep");
  expectError([&] { parse(cfg); }, ErrorCode::InvalidArgument, "num_class_embeds must be null");
  cfg["num_class_embeds"] = nullptr;
  cfg["tessera"] = Json::object();
  UnetConfig c;
  ASSERT_NO_THROW(c = parse(cfg));
  EXPECT_TRUE(c.timestepClassEmbedding());
  EXPECT_EQ(c.toJson()["class_embed_type"], "timestep");
  EXPECT_EQ(UnetConfig::fromJson(c.toJson()).toJson(), c.toJson());
}

TEST(UnetConfig, AnUnsupportedKeyIsRefusedNamingIt) {
  for (const char* key :
       {"cross_attention_dim", "attention_legacy_order", "padding_mode", "resnet_groups", "foo"}) {
    expectError([&] { parse(with(base(), key, 1)); }, ErrorCode::Unsupported,
                std::string("UNet2DModel config key \"") + key + "\" (value 1) is not supported");
  }
  expectError(
      [&] {
        parse(with(base(), "tessera", {{"padding_mod", "zeros"}}));
      },
      ErrorCode::Unsupported, "\"tessera.padding_mod\"");
}

TEST(UnetConfig, AnUnsupportedValueIsRefusedNamingKeyAndValue) {
  const std::vector<std::pair<std::string, Json>> cases = {
      {"_class_name", "UNet2DConditionModel"},
      {"time_embedding_type", "fourier"},
      {"time_embedding_type", "learned"},
      {"class_embed_type", "identity"},
      {"act_fn", "gelu"},
      {"resnet_time_scale_shift", "spatial"},
      {"mid_block_type", "UNetMidBlock2DCrossAttn"},
      {"downsample_type", "fir"},
      {"upsample_type", "nearest"},
      {"downsample_padding", 2},
      {"down_block_types", {"DownBlock2D", "CrossAttnDownBlock2D"}},
      {"down_block_types", {"SkipDownBlock2D", "DownBlock2D"}},
      {"up_block_types", {"AttnUpBlock2D", "AttnSkipUpBlock2D"}},
  };
  for (const auto& [key, value] : cases) {
    const std::string shown = value.is_array() ? value.back().dump() : value.dump();
    expectError([&] { parse(with(base(), key, value)); }, ErrorCode::Unsupported, "key \"" + key);
    expectError([&] { parse(with(base(), key, value)); }, ErrorCode::Unsupported, shown);
  }
  expectError(
      [&] {
        parse(with(base(), "tessera", {{"padding_mode", "reflect"}}));
      },
      ErrorCode::Unsupported, "\"tessera.padding_mode\": value \"reflect\"");
  expectError(
      [&] {
        parse(with(base(), "tessera", {{"sampler", "ddim"}}));
      },
      ErrorCode::Unsupported, "\"ddim\"");
}

TEST(UnetConfig, ValuesOfTheWrongTypeOrRangeAreRefusedNamingTheKey) {
  const std::vector<std::pair<std::string, Json>> cases = {{"in_channels", "3"},
                                                           {"in_channels", 0},
                                                           {"in_channels", -3},
                                                           {"layers_per_block", 2.5},
                                                           {"block_out_channels", {}},
                                                           {"block_out_channels", {8, -1}},
                                                           {"block_out_channels", 8},
                                                           {"norm_eps", 0},
                                                           {"norm_eps", "1e-5"},
                                                           {"dropout", 1.5},
                                                           {"flip_sin_to_cos", 1},
                                                           {"freq_shift", 1e9},
                                                           {"freq_shift", 18446744073709551615u},
                                                           {"sample_size", {8, 8, 8}},
                                                           {"mid_block_scale_factor", -1},
                                                           {"num_class_embeds", 0},
                                                           {"attention_head_dim", 0},
                                                           {"_diffusers_version", 25},
                                                           {"down_block_types", "DownBlock2D"}};
  for (const auto& [key, value] : cases)
    expectError([&] { parse(with(base(), key, value)); }, ErrorCode::InvalidArgument, "key \"" + key);
  expectError([&] { parse(Json::array()); }, ErrorCode::InvalidArgument, "expected a JSON object");
  Json noName = base();
  noName.erase("_class_name");
  expectError([&] { parse(noName); }, ErrorCode::InvalidArgument, "\"_class_name\" is missing");
}

TEST(UnetConfig, InconsistentConfigsAreRefused) {
  expectError(
      [&] {
        parse(with(base(), "block_out_channels", {3, 6, 12}));
      },
      ErrorCode::InvalidArgument, "must have the same length");
  expectError([&] { parse(with(base(), "norm_num_groups", 2)); }, ErrorCode::InvalidArgument,
              "2 groups do not divide the 3 channels of down_blocks.0.resnets.0.norm1");
  expectError([&] { parse(with(base(), "attention_head_dim", 4)); }, ErrorCode::Unsupported,
              "\"attention_head_dim\": 4 does not divide the 6 channels of down_blocks.1.attentions.0");
  expectError([&] { parse(with(base(), "attn_norm_num_groups", 4)); }, ErrorCode::InvalidArgument,
              "4 groups do not divide the 6 channels of mid_block.attentions.0.group_norm");
  expectError([&] { parse(with(base(), "sample_size", 9)); }, ErrorCode::InvalidArgument,
              "not a multiple of the total stride 2");
  // block_out_channels[0] = 3: the embedding's half width is 1.
  expectError([&] { parse(with(base(), "freq_shift", 1)); }, ErrorCode::InvalidArgument,
              "\"freq_shift\": 1 equals half");
}

TEST(UnetConfig, TesseraSectionIsCheckedAgainstTheModel) {
  Json t = {{"padding_mode", "circular"},
            {"classes", {"brick", "moss"}},
            {"null_class", 2},
            {"sigma_data", 0.5},
            {"sigma_min", 0.002},
            {"sigma_max", 80},
            {"step_sigmas", {{"1", {80.0}}, {"3", {80.0, 4.0, 0.5}}}},
            {"default_steps", 3},
            {"sampler", "consistency"},
            {"guidance_scale", 2.5},
            {"data", {{"textures", 1200}, {"source", "own photographs"}}}};
  const SourceConfig s = parseSourceConfig(with(base(), "tessera", t));
  EXPECT_EQ(s.tessera.paddingMode, PaddingMode::Circular);
  EXPECT_EQ(s.tessera.stepSigmas.at(3), (std::vector<double>{80.0, 4.0, 0.5}));
  EXPECT_EQ(TesseraSection::fromJson(s.tessera.toJson(), s.unet).toJson(), s.tessera.toJson());
  const auto refused = [&](const std::string& key, const Json& v, const std::string& needle) {
    expectError([&] { parseSourceConfig(with(base(), "tessera", with(t, key, v))); },
                ErrorCode::InvalidArgument, needle);
  };
  refused("classes", {"a", "b", "c", "d"}, "at most num_class_embeds (3)");
  refused("classes", {"a", "a"}, "a name given once");
  refused("null_class", 3, "\"tessera.null_class\"");
  refused("null_class", 1, "beyond the named classes");
  refused("sigma_min", 100, "below tessera.sigma_max");
  refused("sigma_data", -1, "\"tessera.sigma_data\"");
  refused("step_sigmas", {{"2", {80.0}}}, "a list of 2 sigmas");
  refused("step_sigmas", {{"2", {1.0, 80.0}}}, "strictly decreasing");
  refused("step_sigmas", {{"02", {80.0, 1.0}}}, "under a step count");
  refused("default_steps", 2, "listed in tessera.step_sigmas");
  refused("guidance_scale", -1, "\"tessera.guidance_scale\"");
  refused("data", 3, "\"tessera.data\"");
}

}  // namespace
}  // namespace tessera::model
