#include "unet_config.hpp"

#include <cmath>
#include <functional>
#include <map>

#include "unet_layout.hpp"

namespace tessera::model {
namespace {

// Limits far above any texture model; they keep derived sizes inside 32 bits and refuse a
// config that is damaged rather than merely large.
constexpr uint32_t kMaxChannels = 16384;
constexpr uint32_t kMaxBlocks = 8;
constexpr uint32_t kMaxLayersPerBlock = 64;
constexpr uint32_t kMaxClasses = 1u << 20;
constexpr uint32_t kMaxSampleSize = 1u << 16;

[[noreturn]] void unsupportedValue(const std::string& key, const Json& v, const std::string& supported) {
  throw Error(ErrorCode::Unsupported, "UNet2DModel config key \"" + key + "\": value " + jsonShort(v) +
                                          " is not supported (tessera supports " + supported + ")");
}

[[noreturn]] void badValue(const std::string& key, const Json& v, const std::string& expected) {
  throw Error(ErrorCode::InvalidArgument,
              "UNet2DModel config key \"" + key + "\": value " + jsonShort(v) + " is not " + expected);
}

uint32_t getCount(const std::string& key, const Json& v, uint32_t lo, uint32_t hi) {
  if (!isUnsignedInteger(v) || v.get<uint64_t>() < lo || v.get<uint64_t>() > hi)
    badValue(key, v, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return uint32_t(v.get<uint64_t>());
}

std::optional<uint32_t> getOptionalCount(const std::string& key, const Json& v, uint32_t lo, uint32_t hi) {
  if (v.is_null()) return std::nullopt;
  return getCount(key, v, lo, hi);
}

bool getBool(const std::string& key, const Json& v) {
  if (!v.is_boolean()) badValue(key, v, "true or false");
  return v.get<bool>();
}

double getNumber(const std::string& key, const Json& v, double lo, double hi, bool loOpen) {
  if (!v.is_number()) badValue(key, v, "a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d > hi || d < lo || (loOpen && d == lo))
    badValue(key, v,
             "a number in " + std::string(loOpen ? "(" : "[") + std::to_string(lo) + ", " +
                 std::to_string(hi) + "]");
  return d;
}

const std::string& getString(const std::string& key, const Json& v) {
  if (!v.is_string()) badValue(key, v, "a string");
  return v.get_ref<const std::string&>();
}

template <class T>
T getEnum(const std::string& key, const Json& v, const std::vector<std::pair<const char*, T>>& choices) {
  std::string supported;
  for (const auto& [name, value] : choices) {
    if (v.is_string() && v.get<std::string>() == name) return value;
    supported += (supported.empty() ? "\"" : ", \"") + std::string(name) + "\"";
  }
  unsupportedValue(key, v, supported);
}

template <class T>
std::vector<T> getEnumList(const std::string& key, const Json& v,
                           const std::vector<std::pair<const char*, T>>& choices) {
  if (!v.is_array() || v.empty() || v.size() > kMaxBlocks)
    badValue(key, v, "a list of 1 to " + std::to_string(kMaxBlocks) + " block types");
  std::vector<T> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(getEnum(key + "[" + std::to_string(i) + "]", v[i], choices));
  return out;
}

const std::vector<std::pair<const char*, DownBlockType>> kDownBlocks = {
    {"DownBlock2D", DownBlockType::Down},
    {"AttnDownBlock2D", DownBlockType::AttnDown},
    {"ResnetDownsampleBlock2D", DownBlockType::ResnetDownsample}};
const std::vector<std::pair<const char*, UpBlockType>> kUpBlocks = {
    {"UpBlock2D", UpBlockType::Up},
    {"AttnUpBlock2D", UpBlockType::AttnUp},
    {"ResnetUpsampleBlock2D", UpBlockType::ResnetUpsample}};
const std::vector<std::pair<const char*, ResampleType>> kResample = {{"conv", ResampleType::Conv},
                                                                     {"resnet", ResampleType::Resnet}};
const std::vector<std::pair<const char*, TimeScaleShift>> kShift = {
    {"default", TimeScaleShift::Default}, {"scale_shift", TimeScaleShift::ScaleShift}};

using Handler = std::function<void(UnetConfig&, const std::string&, const Json&)>;

// One entry per key of diffusers' UNet2DModel.__init__ (and the bookkeeping keys diffusers
// writes). A key absent here is refused.
const std::map<std::string, Handler>& handlers() {
  static const std::map<std::string, Handler> table = {
      {"_class_name",
       [](UnetConfig&, const std::string& k, const Json& v) {
         if (!v.is_string() || v.get<std::string>() != "UNet2DModel")
           unsupportedValue(k, v, "\"UNet2DModel\"");
       }},
      {"_diffusers_version",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         c.diffusersVersion = getString(k, v);
         if (c.diffusersVersion.size() > 64) badValue(k, v, "a version string");
       }},
      {"_name_or_path", [](UnetConfig&, const std::string& k, const Json& v) { getString(k, v); }},
      {"sample_size",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         if (v.is_null()) {
           c.sampleHeight = c.sampleWidth = std::nullopt;
         } else if (v.is_array()) {
           if (v.size() != 2) badValue(k, v, "null, an integer or [height, width]");
           c.sampleHeight = getCount(k + "[0]", v[0], 1, kMaxSampleSize);
           c.sampleWidth = getCount(k + "[1]", v[1], 1, kMaxSampleSize);
         } else {
           c.sampleHeight = c.sampleWidth = getCount(k, v, 1, kMaxSampleSize);
         }
       }},
      {"in_channels",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.inChannels = getCount(k, v, 1, 4096); }},
      {"out_channels",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.outChannels = getCount(k, v, 1, 4096); }},
      {"center_input_sample",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.centerInputSample = getBool(k, v); }},
      {"time_embedding_type",
       [](UnetConfig&, const std::string& k, const Json& v) {
         if (!v.is_string() || v.get<std::string>() != "positional") unsupportedValue(k, v, "\"positional\"");
       }},
      {"time_embedding_dim",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         c.timeEmbeddingDim = getOptionalCount(k, v, 1, 4 * kMaxChannels);
       }},
      {"freq_shift",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         // An unsigned JSON integer may exceed int64_t; test it as unsigned first.
         const bool ok = v.is_number_unsigned() ? v.get<uint64_t>() <= 1024
                                                : v.is_number_integer() && v.get<int64_t>() >= -1024;
         if (!ok) badValue(k, v, "an integer in [-1024, 1024]");
         c.freqShift = int32_t(v.get<int64_t>());
       }},
      {"flip_sin_to_cos",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.flipSinToCos = getBool(k, v); }},
      {"down_block_types", [](UnetConfig& c, const std::string& k,
                              const Json& v) { c.downBlocks = getEnumList(k, v, kDownBlocks); }},
      {"mid_block_type",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         // diffusers builds no mid block for null; any other value it treats as UNetMidBlock2D,
         // tessera accepts only the name itself.
         if (v.is_null()) {
           c.hasMidBlock = false;
         } else if (v.is_string() && v.get<std::string>() == "UNetMidBlock2D") {
           c.hasMidBlock = true;
         } else {
           unsupportedValue(k, v, "\"UNetMidBlock2D\" or null");
         }
       }},
      {"up_block_types",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.upBlocks = getEnumList(k, v, kUpBlocks); }},
      {"block_out_channels",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         if (!v.is_array() || v.empty() || v.size() > kMaxBlocks)
           badValue(k, v, "a list of 1 to " + std::to_string(kMaxBlocks) + " channel counts");
         c.blockOutChannels.clear();
         for (std::size_t i = 0; i < v.size(); ++i)
           c.blockOutChannels.push_back(getCount(k + "[" + std::to_string(i) + "]", v[i], 1, kMaxChannels));
       }},
      {"layers_per_block", [](UnetConfig& c, const std::string& k,
                              const Json& v) { c.layersPerBlock = getCount(k, v, 1, kMaxLayersPerBlock); }},
      {"mid_block_scale_factor",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         c.midBlockScaleFactor = getNumber(k, v, 0.0, 1e6, true);
       }},
      {"downsample_padding",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         if (!isUnsignedInteger(v) || v.get<uint64_t>() > 1) unsupportedValue(k, v, "0 or 1");
         c.downsamplePadding = uint32_t(v.get<uint64_t>());
       }},
      {"downsample_type", [](UnetConfig& c, const std::string& k,
                             const Json& v) { c.downsampleType = getEnum(k, v, kResample); }},
      {"upsample_type",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.upsampleType = getEnum(k, v, kResample); }},
      {"dropout", [](UnetConfig& c, const std::string& k,
                     const Json& v) { c.dropout = getNumber(k, v, 0.0, 1.0, false); }},
      {"act_fn",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         // diffusers maps "swish" and "silu" to the same nn.SiLU.
         if (!v.is_string() || (v.get<std::string>() != "silu" && v.get<std::string>() != "swish"))
           unsupportedValue(k, v, "\"silu\" (or its alias \"swish\")");
         c.actFn = v.get<std::string>();
       }},
      {"attention_head_dim",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         c.attentionHeadDim = getOptionalCount(k, v, 1, kMaxChannels);
       }},
      {"norm_num_groups", [](UnetConfig& c, const std::string& k,
                             const Json& v) { c.normNumGroups = getCount(k, v, 1, kMaxChannels); }},
      {"attn_norm_num_groups",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         c.attnNormNumGroups = getOptionalCount(k, v, 1, kMaxChannels);
       }},
      {"norm_eps", [](UnetConfig& c, const std::string& k,
                      const Json& v) { c.normEps = getNumber(k, v, 0.0, 1.0, true); }},
      {"resnet_time_scale_shift", [](UnetConfig& c, const std::string& k,
                                     const Json& v) { c.resnetTimeScaleShift = getEnum(k, v, kShift); }},
      {"add_attention",
       [](UnetConfig& c, const std::string& k, const Json& v) { c.addAttention = getBool(k, v); }},
      {"class_embed_type",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         if (v.is_null())
           c.classEmbedType = ClassEmbedType::None;
         else if (v == "timestep")
           c.classEmbedType = ClassEmbedType::Timestep;
         else
           unsupportedValue(k, v, "null (an nn.Embedding when num_class_embeds is set) or \"timestep\"");
       }},
      {"num_class_embeds", [](UnetConfig& c, const std::string& k,
                              const Json& v) { c.numClassEmbeds = getOptionalCount(k, v, 1, kMaxClasses); }},
      {"num_train_timesteps",
       [](UnetConfig& c, const std::string& k, const Json& v) {
         c.numTrainTimesteps = getOptionalCount(k, v, 1, 1u << 24);
       }},
  };
  return table;
}

Json optionalJson(const std::optional<uint32_t>& v) { return v ? Json(*v) : Json(nullptr); }

}  // namespace

const char* downBlockName(DownBlockType t) {
  for (const auto& [name, value] : kDownBlocks)
    if (value == t) return name;
  return "?";
}

const char* upBlockName(UpBlockType t) {
  for (const auto& [name, value] : kUpBlocks)
    if (value == t) return name;
  return "?";
}

UnetConfig UnetConfig::fromJson(const Json& config) {
  if (!config.is_object())
    throw Error(ErrorCode::InvalidArgument,
                "UNet2DModel config: expected a JSON object, got " + jsonTypeName(config));
  if (!config.contains("_class_name"))
    throw Error(ErrorCode::InvalidArgument, "UNet2DModel config: key \"_class_name\" is missing");
  UnetConfig c;
  for (const auto& [key, value] : config.items()) {
    const auto it = handlers().find(key);
    if (it == handlers().end())
      throw Error(ErrorCode::Unsupported, "UNet2DModel config key \"" + key.substr(0, 80) + "\" (value " +
                                              jsonShort(value) + ") is not supported");
    it->second(c, key, value);
  }
  const std::size_t n = c.blockOutChannels.size();
  if (c.downBlocks.size() != n || c.upBlocks.size() != n)
    throw Error(ErrorCode::InvalidArgument,
                "UNet2DModel config: down_block_types (" + std::to_string(c.downBlocks.size()) +
                    "), up_block_types (" + std::to_string(c.upBlocks.size()) + ") and block_out_channels (" +
                    std::to_string(n) + ") must have the same length");
  if (c.sampleHeight) {
    const uint32_t stride = 1u << (n - 1);
    if (*c.sampleHeight % stride || *c.sampleWidth % stride)
      throw Error(ErrorCode::InvalidArgument,
                  "UNet2DModel config key \"sample_size\": " + std::to_string(*c.sampleHeight) + "x" +
                      std::to_string(*c.sampleWidth) + " is not a multiple of the total stride " +
                      std::to_string(stride));
  }
  // diffusers ignores num_class_embeds beside a timestep class embedding; a config giving both
  // says two things, so it is refused.
  if (c.timestepClassEmbedding() && c.numClassEmbeds)
    throw Error(ErrorCode::InvalidArgument,
                "UNet2DModel config: class_embed_type \"timestep\" takes float labels; num_class_embeds must be null");
  // The sinusoidal embedding divides by (half_dim - freq_shift).
  if (int64_t(c.blockOutChannels[0] / 2) - c.freqShift == 0)
    throw Error(ErrorCode::InvalidArgument,
                "UNet2DModel config key \"freq_shift\": " + std::to_string(c.freqShift) +
                    " equals half of block_out_channels[0], a division by zero");
  UnetLayout::derive(c);  // refuses group counts and head sizes that do not divide their channels
  return c;
}

Json UnetConfig::toJson() const {
  Json j = Json::object();
  j["_class_name"] = "UNet2DModel";
  if (!diffusersVersion.empty()) j["_diffusers_version"] = diffusersVersion;
  if (!sampleHeight)
    j["sample_size"] = nullptr;
  else if (*sampleHeight == *sampleWidth)
    j["sample_size"] = *sampleHeight;
  else
    j["sample_size"] = Json::array({*sampleHeight, *sampleWidth});
  j["in_channels"] = inChannels;
  j["out_channels"] = outChannels;
  j["center_input_sample"] = centerInputSample;
  j["time_embedding_type"] = "positional";
  j["time_embedding_dim"] = optionalJson(timeEmbeddingDim);
  j["freq_shift"] = freqShift;
  j["flip_sin_to_cos"] = flipSinToCos;
  j["down_block_types"] = Json::array();
  for (auto t : downBlocks) j["down_block_types"].push_back(downBlockName(t));
  j["mid_block_type"] = hasMidBlock ? Json("UNetMidBlock2D") : Json(nullptr);
  j["up_block_types"] = Json::array();
  for (auto t : upBlocks) j["up_block_types"].push_back(upBlockName(t));
  j["block_out_channels"] = blockOutChannels;
  j["layers_per_block"] = layersPerBlock;
  j["mid_block_scale_factor"] = midBlockScaleFactor;
  j["downsample_padding"] = downsamplePadding;
  j["downsample_type"] = downsampleType == ResampleType::Conv ? "conv" : "resnet";
  j["upsample_type"] = upsampleType == ResampleType::Conv ? "conv" : "resnet";
  j["dropout"] = dropout;
  j["act_fn"] = actFn;
  j["attention_head_dim"] = optionalJson(attentionHeadDim);
  j["norm_num_groups"] = normNumGroups;
  j["attn_norm_num_groups"] = optionalJson(attnNormNumGroups);
  j["norm_eps"] = normEps;
  j["resnet_time_scale_shift"] = resnetTimeScaleShift == TimeScaleShift::Default ? "default" : "scale_shift";
  j["add_attention"] = addAttention;
  j["class_embed_type"] = timestepClassEmbedding() ? Json("timestep") : Json(nullptr);
  j["num_class_embeds"] = optionalJson(numClassEmbeds);
  j["num_train_timesteps"] = optionalJson(numTrainTimesteps);
  return j;
}

}  // namespace tessera::model
