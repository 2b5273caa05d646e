#pragma once
// Small models built in C++ for the format tests and the fuzz seed corpus: a UNet2DModel config
// and a checkpoint of random tensors with exactly the names and shapes the config implies.
#include <random>
#include <string>
#include <vector>

#include "converter.hpp"
#include "half.hpp"
#include "safetensors.hpp"
#include "unet_layout.hpp"

namespace tessera::model::fixtures {

// Two levels, attention, a mid block and class labels, with odd channel counts; a few thousand
// parameters, so a package is a few tens of KiB.
inline Json tinyConfig() {
  return Json{{"_class_name", "UNet2DModel"},
              {"_diffusers_version", "0.25.0"},
              {"sample_size", 8},
              {"in_channels", 3},
              {"out_channels", 3},
              {"down_block_types", {"DownBlock2D", "AttnDownBlock2D"}},
              {"up_block_types", {"AttnUpBlock2D", "UpBlock2D"}},
              {"block_out_channels", {3, 6}},
              {"layers_per_block", 1},
              {"norm_num_groups", 3},
              {"attention_head_dim", 3},
              {"num_class_embeds", 3},
              {"resnet_time_scale_shift", "scale_shift"},
              {"tessera", {{"padding_mode", "circular"}, {"classes", {"brick", "moss"}}, {"null_class", 2}}}};
}

// A super-resolution stage for tinyConfig()'s 3 channels: 6 input channels (image and
// conditioning), a timestep class embedding for the conditioning's noise level, no attention.
inline Json tinySrConfig(uint32_t scale = 4, uint32_t outChannels = 3) {
  return Json{{"_class_name", "UNet2DModel"},
              {"sample_size", 16},
              {"in_channels", 2 * outChannels},
              {"out_channels", outChannels},
              {"down_block_types", {"DownBlock2D", "DownBlock2D"}},
              {"up_block_types", {"UpBlock2D", "UpBlock2D"}},
              {"block_out_channels", {4, 8}},
              {"layers_per_block", 1},
              {"norm_num_groups", 4},
              {"add_attention", false},
              {"class_embed_type", "timestep"},
              {"tessera",
               {{"padding_mode", "circular"}, {"stage", "super_resolution"}, {"scale_factor", scale},
                {"cond_sigma", 0.05}, {"sigma_data", 0.5}, {"sigma_min", 0.002}, {"sigma_max", 80.0},
                {"sampler", "dpmpp_2m"}, {"default_steps", 2}}}};
}

inline std::vector<std::byte> encodeValues(const std::vector<float>& v, SafeDType dtype) {
  std::vector<std::byte> out(v.size() * safeDTypeSize(dtype));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (dtype == SafeDType::F32)
      storeLE(out.data() + 4 * i, std::bit_cast<uint32_t>(v[i]), 4);
    else if (dtype == SafeDType::F16)
      storeLE(out.data() + 2 * i, floatToHalf(v[i]), 2);
    else  // BF16 by truncation: the test compares against what was stored, not against v
      storeLE(out.data() + 2 * i, std::bit_cast<uint32_t>(v[i]) >> 16, 2);
  }
  return out;
}

// A checkpoint for `configJson` with uniform random values in [-1, 1].
inline std::vector<SafeTensorIn> randomCheckpoint(const Json& configJson, std::mt19937_64& rng,
                                                  SafeDType dtype = SafeDType::F32) {
  const UnetLayout layout = UnetLayout::derive(parseSourceConfig(configJson).unet);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<SafeTensorIn> out;
  for (const TensorSpec& spec : layout.tensors()) {
    SafeTensorIn t;
    t.name = spec.name;
    t.dtype = dtype;
    t.shape.assign(spec.shape.begin(), spec.shape.end());
    std::size_t n = 1;
    for (uint32_t d : spec.shape) n *= d;
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    t.data = encodeValues(v, dtype);
    out.push_back(std::move(t));
  }
  return out;
}

// The package tessera-convert would write for tinyConfig() and a random checkpoint.
inline std::vector<std::byte> tinyPackage(std::mt19937_64& rng, DType stored = DType::F32) {
  const Json config = tinyConfig();
  const std::vector<std::byte> st = writeSafetensors(randomCheckpoint(config, rng));
  const SafetensorsFile weights = SafetensorsFile::parse(asBytes(st));
  return convertModel(config, weights, std::nullopt, Json::object(), ConvertOptions{stored}).package;
}

}  // namespace tessera::model::fixtures
