#pragma once
// How a generator's arena is laid out for its largest request, shared by tsr_query_memory and
// the generator's creation so that the two always agree.
#include <array>
#include <cstdint>

#include "cascade_sizes.hpp"
#include "generator_config.hpp"
#include "graph/unet_graph.hpp"
#include "handles.hpp"
#include "stage.hpp"

namespace tessera::runtime {

// The arena of a pipeline, laid out once for the largest request:
//   weights:     the base's, then each stage's
//   activations: the largest stage's plan (stages run one after another)
//   scratch:     the base's device IO, the generator's shared buffers, the base's state, then
//                for each later stage its device IO and its state
// The low-resolution result that conditions a stage lives in the stage before's state, which no
// later stage overwrites.
struct PipelineLayout {
  CascadeSizes extents;
  std::array<StageExtent, kMaxPipelineStages> stage{};
  std::array<uint64_t, kMaxPipelineStages> weightsAt{}, ioAt{}, stateAt{};  // stateAt relative to the base's extra scratch
  uint64_t extraWeights = 0, maxActivations = 0, extraScratch = 0, staging = 0;
  uint64_t stageWeightsStaging = 0;  // where the later stages' packed weights wait (weightsAt[k] after it)
  uint64_t params = 0, pixels = 0, mips = 0, rawInit = 0, rawMask = 0, cond = 0;  // relative to the base's extra scratch
  uint64_t progress = 0, inputs = 0, masks = 0, outputs = 0, slotOutput = 0;
};

PipelineLayout layoutPipeline(tsr_context_t& ctx, const model::ModelPackage& package, const GeneratorConfig& c);

// The graph options of stage k's network at its extent, and the base's (which owns the arena).
graph::UnetGraphOptions stageGraphOptions(const GeneratorConfig& c, const StageExtent& e);
graph::UnetGraphOptions baseGraphOptions(const GeneratorConfig& c, const PipelineLayout& l);

}  // namespace tessera::runtime
