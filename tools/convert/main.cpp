// tessera-convert MODEL_DIR OUT.tsr [--scheduler PATH] [--stage SR_DIR]... [--fp16]
// Reads a diffusers UNet2DModel folder (and the folders of its super-resolution stages), checks the checkpoint against its config and writes one
// .tsr package atomically. Exit status: 0 written, 1 refused (the message says why), 2 usage.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "converter.hpp"
#include "file_io.hpp"

namespace {

const char* kUsage =
    "usage: tessera-convert MODEL_DIR OUT.tsr [--scheduler PATH] [--stage SR_DIR]... [--fp16]\n"
    "\n"
    "Converts a diffusers UNet2DModel folder into a tessera model package; with --stage, a\n"
    "cascade: the base model and its super-resolution stages in one package.\n"
    "\n"
    "  MODEL_DIR  a diffusers pipeline folder (model_index.json names its UNet2DModel and\n"
    "             scheduler subfolders), or a UNet folder: config.json and\n"
    "             diffusion_pytorch_model.safetensors (or .fp16.safetensors), with its\n"
    "             scheduler_config.json beside it or in ../scheduler/. The scheduler decides\n"
    "             the sampler: DDPMScheduler ddpm, DDIMScheduler ddim, EulerDiscreteScheduler\n"
    "             euler, CMStochasticIterativeScheduler consistency; any other is refused.\n"
    "             Without one, diffusers' DDPMScheduler defaults are recorded (a warning says\n"
    "             so). The config's \"tessera\" section (padding mode, classes, sigmas, step\n"
    "             schedules) is carried into the package.\n"
    "  --scheduler PATH\n"
    "             the scheduler_config.json to use (or a folder holding one).\n"
    "  OUT.tsr    the package to write; written to a temporary file and renamed, so an\n"
    "             existing OUT.tsr is replaced only by a complete package.\n"
    "  --stage SR_DIR\n"
    "             a super-resolution stage (tessera.stage \"super_resolution\" in its config),\n"
    "             conditioned on the output of the stage before it; repeat in pipeline order\n"
    "             (e.g. two 2x stages). Each must make the base's channels from twice as many.\n"
    "  --fp16     store the weights as fp16 (default fp32). Weights stay in PyTorch's layout;\n"
    "             the runtime packs them for the device it runs on.\n"
    "  --help     this text.\n"
    "\n"
    "The checkpoint must hold exactly the tensors the config implies, with the shapes it\n"
    "implies; a missing, extra or misshapen tensor, or a config key or value tessera does not\n"
    "support, is an error naming it.\n";

std::string withThousands(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  std::vector<std::string> positional;
  std::vector<std::filesystem::path> stages;
  model::ConvertOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--fp16") {
      options.dtype = DType::F16;
    } else if (arg == "--scheduler") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tessera-convert: --scheduler needs a scheduler_config.json\n\n%s", kUsage);
        return 2;
      }
      options.scheduler = argv[++i];
    } else if (arg == "--stage") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tessera-convert: --stage needs a model folder\n\n%s", kUsage);
        return 2;
      }
      stages.emplace_back(argv[++i]);
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::fprintf(stderr, "tessera-convert: unknown option %s\n\n%s", arg.c_str(), kUsage);
      return 2;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  try {
    const model::ConvertResult r = model::convertPipelineDirs(positional[0], stages, options);
    model::writeFileAtomically(positional[1], model::asBytes(r.package));
    const model::ConvertSummary& s = r.summary;
    std::printf("config     %s\n", s.configPath.string().c_str());
    std::printf("weights    %s\n", s.weightsPath.string().c_str());
    for (const std::string& w : s.warnings) std::fprintf(stderr, "tessera-convert: warning: %s\n", w.c_str());
    if (!s.schedulerPath.empty()) std::printf("scheduler  %s\n", s.schedulerPath.string().c_str());
    std::printf("sampler    %s by default\n", s.sampler.c_str());
    for (std::size_t k = 0; k < s.stagePaths.size(); ++k)
      std::printf("stage %zu    %s\n", k + 1, s.stagePaths[k].string().c_str());
    std::printf("wrote      %s\n", positional[1].c_str());
    std::printf("tensors    %zu (%s)\n", s.tensors, dtypeName(s.dtype));
    std::printf("parameters %s\n", withThousands(s.parameters).c_str());
    std::printf("bytes      %s of weights, %s in the package\n", withThousands(s.weightBytes).c_str(),
                withThousands(s.packageBytes).c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "tessera-convert: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera-convert: %s\n", e.what());
    return 1;
  }
}
