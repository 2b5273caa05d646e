#pragma once
// The whole denoiser as one Program: diffusers' UNet2DModel.forward(sample, timestep,
// class_labels) built from a model package, op by op, inside one Arena. docs/GRAPH.md describes
// the walk, the fusions and the memory figures.
//
// Construction (allocates): packs every weight once for the device's kernel variants into the
// weights region, plans the activations of the largest request (batch x height x width) into
// one region, and builds the Program for that shape. prepare() rebuilds the Program for a smaller
// request inside the same arena. run()/record() allocate nothing.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "arena.hpp"
#include "model_package.hpp"
#include "ops/conv2d.hpp"
#include "program.hpp"
#include "vk/buffer.hpp"

namespace tessera::graph {

struct UnetGraphOptions {
  uint32_t batch = 1;  // the largest request the arena is built for
  uint32_t height = 0, width = 0;
  DType dtype = DType::F32;  // storage of weights and activations; arithmetic is fp32 either way
  std::optional<model::PaddingMode> padding;  // unset: the package's padding_mode
  // Device IO: the network's inputs and output live in the arena's scratch region at fixed
  // offsets (sized for the largest request) for a sampler to write and read on the GPU, instead
  // of in staging for the host. run()/writeInputs()/readOutput() are then unavailable.
  bool deviceIO = false;
  uint64_t extraScratchBytes = 0;  // reserved after the IO tensors, for the caller (deviceIO)
  uint64_t extraStagingBytes = 0;  // staging at least this large, for the caller
  // Plan only: compute memory() and arenaSizes() without allocating or uploading anything.
  bool planOnly = false;
  // Submit nothing at construction: the packed weights wait in a staging range of their own, and
  // the caller records their copy (recordWeightUpload) into a command buffer it submits — a
  // host's, so that creating a graph never touches a queue. Staging then also holds the weights.
  bool deferWeightUpload = false;
  // Bind the arena into the host's memory instead of allocating it (see Arena::createInHostMemory).
  const HostMemoryBlock* deviceMemory = nullptr;
  const HostMemoryBlock* stagingMemory = nullptr;
  // A cascade's stages share one arena. The graph that creates it reserves room for the others:
  // weights after its own, and activations of at least minActivationBytes (stages run one after
  // another, so their activation plans overlap from offset 0).
  uint64_t extraWeightsBytes = 0;
  uint64_t minActivationBytes = 0;
  // The other stages build into that arena instead of creating one: their packed weights at
  // weightsOffset of its weights region, their device IO at scratchOffset of its scratch region,
  // and with deferWeightUpload their packed weights waiting at weightStagingOffset of its staging
  // (room the creating graph's caller reserved in extraStagingBytes).
  Arena* sharedArena = nullptr;
  uint64_t weightsOffset = 0, scratchOffset = 0, weightStagingOffset = 0;
};

// The network's tensors a sampler writes and reads in device-IO mode, for a given shape.
struct UnetIO {
  Tensor sample;     // [N, in_channels, H, W], network storage type
  Tensor timesteps;  // [N, 1, 1, 1] fp32
  Tensor classes;    // [N, num_class_embeds, 1, 1] one-hot, network storage type; empty without classes
  Tensor classValues;  // [N, 1, 1, 1] fp32 labels of a timestep class embedding; empty otherwise
  Tensor output;     // [N, out_channels, H, W], network storage type
};

struct GraphMemory {
  uint64_t weights = 0;            // packed weights region
  uint64_t activations = 0;        // planned activation + scratch region (the arena's capacity)
  uint64_t plannedActivations = 0; // the plan of the prepared shape
  uint64_t naiveActivations = 0;   // the prepared shape with every tensor in its own range
  uint64_t peakLiveActivations = 0;// lower bound of any plan for the prepared shape
  uint64_t staging = 0;            // inputs and output
  std::size_t dispatches = 0;
  std::size_t tensors = 0;         // activation tensors planned
};

// The inputs of one evaluation, as diffusers takes them: sample [N,C,H,W] (fp32 values),
// timesteps N values (or 1, broadcast), class labels N values (or 1) when the model has a class
// embedding, empty otherwise.
struct UnetInputs {
  std::span<const float> sample;
  std::span<const float> timesteps;
  std::span<const int64_t> classLabels;
  std::span<const float> classValues;  // class_embed_type "timestep": N values (or 1)
};

class UnetGraph {
 public:
  // Throws InvalidArgument for a size that is not a multiple of 2^(levels-1) or is zero,
  // Unsupported for model features the graph does not run (downsample_padding other than 0 or
  // 1), OutOfArena when the device cannot hold the arena.
  UnetGraph(const vk::Gpu& gpu, vk::KernelCache& kernels, const model::ModelPackage& package,
            const UnetGraphOptions& options);
  ~UnetGraph();
  UnetGraph(const UnetGraph&) = delete;
  UnetGraph& operator=(const UnetGraph&) = delete;

  // Builds the Program for a request of this shape inside the existing arena. Throws
  // InvalidArgument for a bad size, OutOfArena when it needs more than the arena holds.
  void prepare(uint32_t batch, uint32_t height, uint32_t width);
  // A Program for that shape and padding inside the same arena, for a caller that keeps several
  // (the generator). The graph's own prepared Program is not changed. Same errors as prepare().
  std::unique_ptr<Program> buildProgram(uint32_t batch, uint32_t height, uint32_t width, ops::Padding padding);
  // Device-IO tensors for a batch at a size (offsets do not depend on the shape).
  UnetIO io(uint32_t batch, uint32_t height, uint32_t width) const;
  // Where extraScratchBytes start in the scratch region (deviceIO).
  uint64_t extraScratchOffset() const { return options_.scratchOffset + ioBytes_; }
  // The bytes of the weights region this graph's packed weights take.
  uint64_t weightBytes() const { return weightBytes_; }
  Arena& arena() const { return *arena_; }
  const ArenaSizes& arenaSizes() const { return sizes_; }
  // deferWeightUpload: whether the weights' copy still has to run (until markWeightsUploaded),
  // and recording it: a barrier behind earlier transfer and compute work, then one copy from
  // staging to the weights region. Program::record's first barrier makes it visible to shaders.
  bool weightsUploaded() const { return weightsUploaded_; }
  void recordWeightUpload(VkCommandBuffer cmd) const;
  void markWeightsUploaded() { weightsUploaded_ = true; }

  // Fails with InvalidArgument naming the rule when the shape cannot run.
  void checkShape(uint32_t batch, uint32_t height, uint32_t width) const { checkSize(batch, height, width); }

  // Writes the inputs to staging, records and submits the Program, waits, and returns the output
  // [N, out_channels, H, W] as fp32. Throws InvalidArgument for inputs of the wrong size or
  // class labels out of range.
  std::vector<float> run(const UnetInputs& inputs);
  // The two halves of run() for a host that records into its own command buffer.
  void writeInputs(const UnetInputs& inputs);
  void record(VkCommandBuffer cmd) const;
  std::vector<float> readOutput() const;

  Shape4 inputShape() const { return {batch_, config().inChannels, height_, width_}; }
  Shape4 outputShape() const { return {batch_, config().outChannels, height_, width_}; }
  const GraphMemory& memory() const { return memory_; }
  const Program& program() const { return *program_; }
  DType dtype() const { return options_.dtype; }
  ops::Padding padding() const { return padding_; }

 private:
  struct Builder;
  const model::UnetConfig& config() const { return package_.layout().config; }
  void packWeights();
  void uploadWeights();
  void writePackedWeights(std::byte* out) const;
  std::unique_ptr<Program> build(uint32_t batch, uint32_t height, uint32_t width, ops::Padding padding,
                                 bool createArena, bool adopt);
  uint64_t ioOffsets(uint32_t batch, uint32_t height, uint32_t width, uint64_t* offsets) const;
  void checkSize(uint32_t batch, uint32_t height, uint32_t width) const;

  const vk::Gpu& gpu_;
  vk::KernelCache& kernels_;
  const model::ModelPackage& package_;
  UnetGraphOptions options_;
  ops::Padding padding_ = ops::Padding::Zeros;
  uint64_t align_ = 256;

  // Weights: packed values (fp32 on the host) at offsets of the weights region.
  struct PackedWeight {
    uint64_t offset = 0;
    Shape4 shape;
  };
  std::map<std::string, PackedWeight> weights_;
  std::vector<float> hostWeights_;  // freed after upload
  std::vector<std::pair<uint64_t, std::size_t>> weightRuns_;  // (region offset, first value) per tensor
  uint64_t weightBytes_ = 0;
  uint64_t weightStagingOffset_ = 0;  // deferWeightUpload: where the packed weights wait
  bool weightsUploaded_ = false;
  std::map<std::string, std::unique_ptr<ops::Conv2d>> convs_;

  // Staging layout: sample, timesteps (fp32), one-hot class labels, output.
  uint64_t stagingSample_ = 0, stagingTime_ = 0, stagingClass_ = 0, stagingOut_ = 0, stagingBytes_ = 0;

  std::unique_ptr<Arena> ownedArena_;
  Arena* arena_ = nullptr;  // ownedArena_, or the shared one
  ArenaSizes sizes_;
  uint64_t ioBytes_ = 0;  // device-IO tensors at the start of the scratch region
  std::unique_ptr<Program> program_;
  std::unique_ptr<vk::Submitter> submitter_;
  uint32_t batch_ = 0, height_ = 0, width_ = 0;
  GraphMemory memory_;
};

}  // namespace tessera::graph
