// Writes the fuzz targets' seed corpora: valid inputs (a small package in fp32 and fp16,
// safetensors files in each dtype, configs in each supported block form) from which the
// fuzzer mutates. Run by ctest before the fuzz runs, so the seeds follow the current format.
//   make_seed_corpus OUT_DIR  ->  OUT_DIR/seeds/<target>/*, and empty OUT_DIR/work/<target>/
//   (where the fuzzer adds what it finds) and OUT_DIR/artifacts/ (where it saves a crash).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "../model/model_fixtures.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::model;

void write(const fs::path& p, Bytes b) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

Json with(Json j, const std::string& key, const Json& v) {
  j[key] = v;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus OUT_DIR\n");
    return 2;
  }
  try {
    const fs::path root = argv[1];
    for (const char* d : {"tsr_package", "safetensors", "unet_config"})
      for (const char* kind : {"seeds", "work"}) {
        fs::remove_all(root / kind / d);
        fs::create_directories(root / kind / d);
      }
    fs::create_directories(root / "artifacts");
    const fs::path out = root / "seeds";
    std::mt19937_64 rng(1);  // fixed: the same seeds every run
    write(out / "tsr_package" / "tiny_f32.tsr", asBytes(fixtures::tinyPackage(rng, DType::F32)));
    write(out / "tsr_package" / "tiny_f16.tsr", asBytes(fixtures::tinyPackage(rng, DType::F16)));

    const auto small = [](SafeDType t) {
      std::vector<SafeTensorIn> ts = {{"a.weight", t, {3, 2}, {}}, {"b.bias", t, {3}, {}}, {"c", t, {}, {}}};
      for (SafeTensorIn& x : ts) {
        uint64_t n = 1;
        for (uint64_t d : x.shape) n *= d;
        x.data.assign(n * safeDTypeSize(t), std::byte{0x3c});
      }
      return writeSafetensors(ts, {{"format", "pt"}});
    };
    write(out / "safetensors" / "f32.safetensors", asBytes(small(SafeDType::F32)));
    write(out / "safetensors" / "f16.safetensors", asBytes(small(SafeDType::F16)));
    write(out / "safetensors" / "bf16.safetensors", asBytes(small(SafeDType::BF16)));
    const Json tiny = fixtures::tinyConfig();
    write(out / "safetensors" / "tiny_checkpoint.safetensors",
          asBytes(writeSafetensors(fixtures::randomCheckpoint(tiny, rng, SafeDType::F16))));

    const std::vector<std::pair<std::string, Json>> configs = {
        {"tiny", tiny},
        {"resnet_resample",
         with(with(with(with(tiny, "down_block_types", {"ResnetDownsampleBlock2D", "AttnDownBlock2D"}),
                        "up_block_types", {"AttnUpBlock2D", "ResnetUpsampleBlock2D"}),
                   "upsample_type", "resnet"),
              "downsample_type", "resnet")},
        {"no_mid", with(with(tiny, "mid_block_type", nullptr), "attn_norm_num_groups", 3)},
        {"defaults", Json{{"_class_name", "UNet2DModel"}}},
        {"tessera_section", with(tiny, "tessera",
                                 {{"padding_mode", "zeros"},
                                  {"sigma_data", 0.5},
                                  {"sigma_min", 0.002},
                                  {"sigma_max", 80},
                                  {"step_sigmas", {{"1", {80.0}}, {"2", {80.0, 0.9}}}},
                                  {"default_steps", 1},
                                  {"sampler", "euler"},
                                  {"guidance_scale", 1.5},
                                  {"data", {{"count", 10}}}})},
        {"scheduler", Json{{"_class_name", "DDPMScheduler"},
                           {"beta_schedule", "linear"},
                           {"beta_start", 0.0001},
                           {"beta_end", 0.02},
                           {"num_train_timesteps", 1000},
                           {"clip_sample", true}}}};
    for (const auto& [name, j] : configs) write(out / "unet_config" / (name + ".json"), asBytes(j.dump(1)));
    std::printf("seed corpora written to %s\n", out.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seed_corpus: %s\n", e.what());
    return 1;
  }
}
