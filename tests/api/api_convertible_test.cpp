// The converter and the runtime agree on what runs: every configuration below either converts and
// then loads, builds a generator and generates through the public API, or is refused by the
// converter itself with a message naming the key. Each case changes one key of a small model (every
// value the config parser accepts, and a few it must refuse), or pairs it with a scheduler.
#include <algorithm>
#include <ostream>
#include <random>

#include "api_fixtures.hpp"
#include "converter.hpp"
#include "../model/model_fixtures.hpp"

namespace tessera::test::api {
namespace {

using model::Json;

struct Case {
  std::string name;
  Json config;
  std::optional<Json> scheduler;
  bool refused = false;  // the converter must refuse it, naming `key`
  std::string key;
};

Json base() {
  Json c = model::fixtures::tinyConfig();
  c["tessera"] = {{"padding_mode", "circular"}, {"sigma_data", 0.5}};
  c.erase("num_class_embeds");
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  const auto with = [&](const std::string& name, Json patch, std::optional<Json> sched = std::nullopt) {
    Json c = base();
    for (const auto& [k, v] : patch.items()) {
      if (v.is_null() && k.rfind("drop:", 0) == 0)
        c.erase(k.substr(5));
      else
        c[k] = v;
    }
    out.push_back({name, c, sched});
  };
  const auto refuse = [&](const std::string& name, Json patch, const std::string& key,
                          std::optional<Json> sched = std::nullopt) {
    with(name, std::move(patch), std::move(sched));
    out.back().refused = true;
    out.back().key = key;
  };
  const Json noEdm = {{"padding_mode", "zeros"}};
  with("plain", Json::object());
  with("downsample_padding_0", {{"downsample_padding", 0}});
  with("downsample_padding_0_zeros", {{"downsample_padding", 0}, {"tessera", noEdm}},
       Json{{"_class_name", "DDPMScheduler"}});
  with("resnet_resamplers", {{"downsample_type", "resnet"}, {"upsample_type", "resnet"}});
  with("resnet_blocks", {{"down_block_types", {"ResnetDownsampleBlock2D", "AttnDownBlock2D"}},
                         {"up_block_types", {"AttnUpBlock2D", "ResnetUpsampleBlock2D"}}});
  with("plain_blocks", {{"down_block_types", {"DownBlock2D", "DownBlock2D"}}, {"up_block_types", {"UpBlock2D", "UpBlock2D"}}});
  with("default_shift", {{"resnet_time_scale_shift", "default"}});
  with("no_mid_block", {{"mid_block_type", nullptr}});
  with("no_attention", {{"add_attention", false}});
  with("head_dim_null", {{"attention_head_dim", nullptr}});
  with("attn_groups", {{"attn_norm_num_groups", 1}});
  with("centred_input", {{"center_input_sample", true}});
  with("time_options", {{"flip_sin_to_cos", false}, {"freq_shift", 2}, {"time_embedding_dim", 20}});
  with("swish", {{"act_fn", "swish"}});
  with("one_channel", {{"in_channels", 1}, {"out_channels", 1}});
  with("four_channels", {{"in_channels", 4}, {"out_channels", 4}});
  with("classes_with_null", {{"num_class_embeds", 3},
                             {"tessera", {{"sigma_data", 0.5}, {"classes", {"a", "b"}}, {"null_class", 2}}}});
  with("classes_without_null", {{"num_class_embeds", 4}});
  with("ddpm_epsilon", {{"tessera", noEdm}}, Json{{"_class_name", "DDPMScheduler"}, {"variance_type", "fixed_large"}});
  with("ddim_v", {{"tessera", noEdm}},
       Json{{"_class_name", "DDIMScheduler"}, {"prediction_type", "v_prediction"}, {"timestep_spacing", "trailing"}});
  with("euler", {{"tessera", noEdm}}, Json{{"_class_name", "EulerDiscreteScheduler"}});
  with("cm", {{"tessera", noEdm}, {"num_class_embeds", 10}}, Json{{"_class_name", "CMStochasticIterativeScheduler"}});
  with("learned_range", {{"tessera", noEdm}, {"out_channels", 6}},
       Json{{"_class_name", "DDPMScheduler"}, {"variance_type", "learned_range"}});
  with("learned_variance_ddim", {{"tessera", noEdm}, {"out_channels", 6}}, Json{{"_class_name", "DDIMScheduler"}});
  with("no_scheduler_assumes_ddpm", {{"tessera", noEdm}});
  with("timestep_class_embedding", {{"class_embed_type", "timestep"}});
  with("sample_size_null", {{"sample_size", nullptr}});
  with("sample_size_pair", {{"sample_size", {8, 16}}});
  refuse("variance_half_on_edm", {{"out_channels", 6}}, "out_channels");
  refuse("odd_out_channels", {{"tessera", noEdm}, {"out_channels", 5}}, "out_channels",
         Json{{"_class_name", "DDPMScheduler"}});
  refuse("five_channels", {{"in_channels", 5}, {"out_channels", 5}}, "in_channels");
  refuse("learned_without_half", {{"tessera", noEdm}}, "variance_type",
         Json{{"_class_name", "DDPMScheduler"}, {"variance_type", "learned"}});
  refuse("variance_half_on_cm", {{"tessera", noEdm}, {"out_channels", 6}}, "out_channels",
         Json{{"_class_name", "CMStochasticIterativeScheduler"}});
  refuse("pndm", {{"tessera", noEdm}}, "PNDMScheduler", Json{{"_class_name", "PNDMScheduler"}});
  refuse("karras_euler", {{"tessera", noEdm}}, "use_karras_sigmas",
         Json{{"_class_name", "EulerDiscreteScheduler"}, {"use_karras_sigmas", true}});
  refuse("downsample_padding_2", {{"downsample_padding", 2}}, "downsample_padding");
  refuse("freq_shift_dividing_by_zero", {{"freq_shift", 1}}, "freq_shift");  // half of 3 channels, rounded down
  refuse("fourier_time", {{"time_embedding_type", "fourier"}}, "time_embedding_type");
  return out;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ApiConvertible : public ::testing::TestWithParam<Case> {};

TEST_P(ApiConvertible, ConvertsAndGeneratesOrIsRefusedNamingTheKey) {
  const Case& c = GetParam();
  std::mt19937_64 rng(7);
  std::vector<std::byte> package;
  try {
    // The checkpoint's tensors come from the config the converter parses: a refusal may come first.
    const std::vector<std::byte> st = model::writeSafetensors(model::fixtures::randomCheckpoint(c.config, rng));
    const model::SafetensorsFile weights = model::SafetensorsFile::parse(model::asBytes(st));
    package = model::convertModel(c.config, weights, c.scheduler, Json::object(), {}).package;
  } catch (const Error& e) {
    ASSERT_TRUE(c.refused) << c.name << ": the converter refused it: " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.key), std::string::npos) << e.what();
    return;
  }
  ASSERT_FALSE(c.refused) << c.name << ": the converter accepted what it should refuse (" << c.key << ")";
  MessageLog log;
  ContextPtr ctx = standaloneContext(log);
  tsr_model m = nullptr;
  TSR_ASSERT_OK(tsr_model_load_memory(package.data(), package.size(), &m));
  ModelPtr model(m, &tsr_model_destroy);
  tsr_model_info info;
  tsr_model_info_defaults(&info);
  TSR_ASSERT_OK(tsr_model_get_info(m, &info));
  GeneratorSpec spec;
  spec.maxWidth = spec.maxHeight = 8;
  GeneratorPtr g = makeGenerator(ctx.get(), m, spec);
  tsr_request r = request(8, 8, 42, 0, 2, TSR_SAMPLER_DEFAULT);
  const std::vector<uint8_t> px = generateOne(g.get(), r);
  ASSERT_EQ(px.size(), 8u * 8u * 4u);
  // RGBA8 alpha is 255 unless the model makes a fourth channel; the poison byte fills no whole output.
  if (info.channels < 4) {
    for (std::size_t i = 3; i < px.size(); i += 4) ASSERT_EQ(px[i], 255) << "pixel " << i / 4 << " was not written";
  }
  EXPECT_LT(std::count(px.begin(), px.end(), poisonByte(VK_FORMAT_R8G8B8A8_UNORM)), std::ptrdiff_t(px.size() / 4));
  log.expectNoneSince(0);
}

INSTANTIATE_TEST_SUITE_P(Configs, ApiConvertible, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

}  // namespace
}  // namespace tessera::test::api
