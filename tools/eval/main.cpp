// tessera-eval MODEL.tsr IN.safetensors OUT.safetensors [--device D] [--fp16] [--padding P]
// Runs the denoiser once, as diffusers' UNet2DModel(sample, timestep, class_labels).sample, on
// the Vulkan device; with --sample, the model's whole sampling loop step by step (sample_loop.hpp).
// Exit status: 0 written, 1 refused (the message says why), 2 usage.
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "device.hpp"
#include "error.hpp"
#include "file_io.hpp"
#include "graph/unet_graph.hpp"
#include "model_package.hpp"
#include "safetensors.hpp"
#include "eval_inputs.hpp"
#include "sample_loop.hpp"
#include "vk/kernel.hpp"

namespace {

const char* kUsage =
    "usage: tessera-eval MODEL.tsr IN.safetensors OUT.safetensors [--device D] [--fp16]\n"
    "                    [--padding circular|zeros] [--stage K]\n"
    "       tessera-eval MODEL.tsr --sample NOISE.safetensors OUT.safetensors [--sampler S]\n"
    "                    [--steps N] [--device D] [--fp16] [--padding P]\n"
    "\n"
    "Runs the model's U-Net once on the GPU (or lavapipe) and writes its output. With\n"
    "--sample, runs the model's sampling loop from `noise` [N,C,H,W] (unit variance; scaled\n"
    "as the scheduler's init_noise_sigma), with `step_noise` [S,N,C,H,W] as each step's fresh\n"
    "noise where the sampler adds some and `class_labels` [N] for a class model, and writes\n"
    "per step k `model_output.k`, `denoised.k` and `sample.k` (in the scheduler's own\n"
    "convention), `sample_init` and `timesteps` [S] (docs/FORMAT.md).\n"
    "\n"
    "  MODEL.tsr        a tessera model package (tessera-convert writes one).\n"
    "  IN.safetensors   `sample` [N,C,H,W]; `timestep` [N] or a scalar (broadcast over the\n"
    "                   batch); `class_labels` [N] or a scalar for a class-conditional model\n"
    "                   (I64 or I32 as PyTorch keeps them, or whole numbers as F32/F16/BF16).\n"
    "                   H and W must be multiples of 2^(levels-1).\n"
    "  OUT.safetensors  written with one F32 tensor, `sample` [N,out_channels,H,W].\n"
    "  --device D       an index into the Vulkan device list or part of a device name\n"
    "                   (default: TESSERA_DEVICE, else the first discrete GPU, ... lavapipe).\n"
    "  --fp16           fp16 storage for weights and activations (arithmetic stays fp32).\n"
    "  --padding P      override the package's padding mode (circular tiles, zeros does not).\n"
    "  --stage K        run the network of the cascade's stage K (1 = the first super-resolution\n"
    "                   stage) instead of the base; its `class_labels` are the conditioning's\n"
    "                   float label (ln(sigma_aug)/4), its `sample` the noisy image beside the\n"
    "                   upsampled low-resolution one.\n"
    "  --sampler S      ddpm, ddim, euler, heun, dpmpp_2m or consistency (default: the model's).\n"
    "  --steps N        sampling steps (default: the model's).\n"
    "  --help           this text.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  std::vector<std::string> positional;
  std::string device, samplerName;
  uint32_t steps = 0, stage = 0;
  bool sampleLoop = false;
  graph::UnetGraphOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--fp16") {
      options.dtype = DType::F16;
    } else if (a == "--sample") {
      sampleLoop = true;
    } else if (a == "--sampler" && i + 1 < argc) {
      samplerName = argv[++i];
    } else if ((a == "--steps" || a == "--stage") && i + 1 < argc) {
      const uint32_t most = a == "--steps" ? 1000 : 16;
      const std::string v = argv[++i];
      char* end = nullptr;
      const unsigned long k = std::strtoul(v.c_str(), &end, 10);
      if (v.empty() || *end || k == 0 || k > most) {
        std::fprintf(stderr, "tessera-eval: %s takes 1 to %u, not \"%s\"\n", a.c_str(), most, v.c_str());
        return 2;
      }
      (a == "--steps" ? steps : stage) = uint32_t(k);
    } else if (a == "--device" && i + 1 < argc) {
      device = argv[++i];
    } else if (a == "--padding" && i + 1 < argc) {
      const std::string p = argv[++i];
      if (p == "circular") options.padding = model::PaddingMode::Circular;
      else if (p == "zeros") options.padding = model::PaddingMode::Zeros;
      else {
        std::fprintf(stderr, "tessera-eval: --padding takes circular or zeros, not \"%s\"\n%s", p.c_str(), kUsage);
        return 2;
      }
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "tessera-eval: unknown or incomplete option %s\n%s", a.c_str(), kUsage);
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (sampleLoop && stage) {
    std::fprintf(stderr, "tessera-eval: --stage runs one network evaluation, not --sample\n%s", kUsage);
    return 2;
  }
  if (!sampleLoop && (steps || !samplerName.empty())) {
    std::fprintf(stderr, "tessera-eval: --sampler and --steps go with --sample\n%s", kUsage);
    return 2;
  }
  try {
    if (sampleLoop) {
      tools::SampleLoopOptions so{positional[0], positional[1], positional[2], device, samplerName, steps, options};
      const uint32_t evaluations = tools::runSampleLoop(so);
      std::fprintf(stderr, "tessera-eval: %u network evaluations; wrote %s\n", evaluations, positional[2].c_str());
      return 0;
    }
    const model::ModelPackage whole = model::ModelPackage::readFile(positional[0]);
    if (stage > whole.stages().size())
      fail(ErrorCode::InvalidArgument, "--stage " + std::to_string(stage) + ": the package has " +
                                           std::to_string(whole.stages().size()) + " super-resolution stage(s)");
    const model::ModelPackage& package = stage ? whole.stages()[stage - 1] : whole;
    const std::vector<std::byte> inBytes = model::readFileBytes(positional[1], uint64_t(4) << 30);
    const model::SafetensorsFile in = model::SafetensorsFile::parse(model::asBytes(inBytes));
    const model::UnetConfig& cfg = package.layout().config;

    const model::SafeTensor* s = in.find("sample");
    if (!s) fail(ErrorCode::InvalidArgument, "the input has no tensor `sample`");
    if (s->shape.size() != 4 || s->shape[1] != cfg.inChannels)
      fail(ErrorCode::InvalidArgument, "`sample` must be [N, " + std::to_string(cfg.inChannels) +
                                           ", H, W] for this model, got rank " + std::to_string(s->shape.size()) +
                                           (s->shape.size() > 1 ? " with " + std::to_string(s->shape[1]) + " channels"
                                                                : std::string()));
    for (uint64_t d : s->shape)
      if (d == 0 || d > 65536) fail(ErrorCode::InvalidArgument, "`sample` has a dimension of " + std::to_string(d));
    const uint32_t n = uint32_t(s->shape[0]);
    const std::vector<float> sample = model::toFloat32(*s);
    const std::vector<float> timesteps = tools::tensorValues(in, "timestep");
    if (timesteps.size() != 1 && timesteps.size() != n)
      fail(ErrorCode::InvalidArgument, "`timestep` holds " + std::to_string(timesteps.size()) +
                                           " values; give a scalar or one per batch item (" + std::to_string(n) + ")");
    std::vector<int64_t> labels;
    std::vector<float> classValues;
    if (cfg.timestepClassEmbedding()) {
      classValues = tools::tensorValues(in, "class_labels");
      if (classValues.size() != 1 && classValues.size() != n)
        fail(ErrorCode::InvalidArgument, "`class_labels` holds " + std::to_string(classValues.size()) +
                                             " values; give a scalar or one per batch item (" + std::to_string(n) + ")");
    } else if (const model::SafeTensor* y = in.find("class_labels")) {
      if (!cfg.numClassEmbeds)
        fail(ErrorCode::InvalidArgument, "`class_labels` given, but the model has no class embedding");
      labels = tools::classLabels(*y);
    } else if (cfg.numClassEmbeds) {
      fail(ErrorCode::InvalidArgument, "the model is class-conditional: the input needs `class_labels`");
    }

    runtime::StandaloneOptions dopts;
    dopts.deviceSelector = device;
    std::unique_ptr<runtime::Device> dev = runtime::Device::createStandalone(dopts);
    vk::KernelCache kernels(dev->gpu());
    options.batch = n;
    options.height = uint32_t(s->shape[2]);
    options.width = uint32_t(s->shape[3]);
    graph::UnetGraph net(dev->gpu(), kernels, package, options);
    const std::vector<float> out = net.run({sample, timesteps, labels, classValues});

    model::SafeTensorIn t;
    t.name = "sample";
    const Shape4 os = net.outputShape();
    t.shape = {os.n, os.c, os.h, os.w};
    t.data.resize(out.size() * 4);
    std::memcpy(t.data.data(), out.data(), t.data.size());
    const std::vector<std::byte> file = model::writeSafetensors({t}, {{"format", "pt"}});
    model::writeFileAtomically(positional[2], model::asBytes(file));
    const graph::GraphMemory& m = net.memory();
    std::fprintf(stderr,
                 "tessera-eval: %s, %s storage, %zu dispatches; weights %llu B, activations %llu B "
                 "(naive %llu B); wrote %s [%u,%u,%u,%u]\n",
                 dev->gpu().facts.name.c_str(), dtypeName(options.dtype), m.dispatches,
                 (unsigned long long)m.weights, (unsigned long long)m.plannedActivations,
                 (unsigned long long)m.naiveActivations, positional[2].c_str(), os.n, os.c, os.h, os.w);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tessera-eval: %s\n", e.what());
    return 1;
  }
}
