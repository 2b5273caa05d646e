#pragma once
// tessera-eval --sample: a converted checkpoint's whole sampling loop, step by step, from a given
// initial noise, for comparison with diffusers' schedulers (docs/FORMAT.md, "Sampling-loop
// files"). The network runs on the Vulkan device; the update after each evaluation applies the
// sampler plan's row (compute/sampler/sampler_params.hpp) in double precision on the host, with
// the per-step noise read from the input instead of drawn, so stochastic samplers compare too.
#include <filesystem>
#include <string>

#include "graph/unet_graph.hpp"

namespace tessera::tools {

struct SampleLoopOptions {
  std::filesystem::path model, input, output;
  std::string device;
  std::string sampler;  // "" : the model's default
  uint32_t steps = 0;   // 0: the model's default
  graph::UnetGraphOptions graph;
};

// Returns the number of network evaluations. Throws Error naming what is wrong with the input.
uint32_t runSampleLoop(const SampleLoopOptions& options);

}  // namespace tessera::tools
