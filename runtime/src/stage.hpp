#pragma once
// One stage of a generation pipeline: a network with its sampler plan (docs/ARCHITECTURE.md).
// The base makes an image from noise; a super-resolution stage (cascaded diffusion) refines the
// upsampled output of the stage before it. Each stage owns its network graph, its sampler state
// (X, E, D, P, init, mask in the arena's scratch region), the Programs of the shapes it runs and
// the planning of its rows of sampler coefficients. The generator schedules stages and owns the
// job, the shared buffers (params, pixels, raw inputs) and the outputs.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include "arena.hpp"
#include "graph/unet_graph.hpp"
#include "handles.hpp"
#include "model_defaults.hpp"
#include "sampler/image_encode.hpp"
#include "sampler/sampler_params.hpp"
#include "sampler/sampler_state.hpp"
#include "sampler/schedule.hpp"

namespace tessera::runtime {

// Stage k >= 1 draws every noise of its own from streams k << 16 | s: its start from s = 0, its
// steps from s = 2j + 2 / 2j + 3 as the base does, and its conditioning's augmentation from s = 1
// (docs/SAMPLER.md). So no two draws of a seed share a stream, and the base's streams are as they
// were before cascades.
inline uint32_t stageStreamOffset(uint32_t k) { return k << 16; }
inline uint32_t conditionStream(uint32_t k) { return stageStreamOffset(k) | 1u; }

// What the generator's shared part of the scratch region holds, as buffers a stage binds.
struct SharedBuffers {
  BufferRef params;           // the stage row and the item rows
  BufferRef rawInit, rawMask; // the group's RGBA8 init images and mask bytes
  BufferRef pixels;           // the encoded output
  BufferRef mips;             // the encoded output's mip chain (sampler/image_mips.hpp)
  BufferRef cond;             // fp32: the stage before's output, clamped and noised
};

// Where a stage lives in the shared arena, and how large it is built.
struct StageExtent {
  uint32_t maxBatch = 1, netBatch = 1;  // images; network rows (2x with guidance)
  uint32_t height = 0, width = 0;       // the largest size the stage runs at
};

class Stage {
 public:
  // Sizes of the stage's state (X, E, D, P, init, mask, and U for a residual stage), fp32, for its
  // extent.
  static uint64_t stateBytes(uint32_t channels, const StageExtent& e, bool residual, uint64_t align);

  // `graphOptions` places the network (its own arena for the base; the base's for the others).
  // The stage's state starts `stateOffset` bytes after the end of the base's device IO in the
  // scratch region: at `baseIoEnd`, or for the base itself where its graph puts it.
  Stage(tsr_context_t& ctx, const model::ModelPackage& package, uint32_t index, const StageExtent& extent,
        const graph::UnetGraphOptions& graphOptions, uint64_t stateOffset, uint64_t baseIoEnd);

  uint32_t index() const { return index_; }
  const model::ModelPackage& package() const { return package_; }
  const ModelDefaults& defaults() const { return defaults_; }
  const StageExtent& extent() const { return extent_; }
  graph::UnetGraph& graph() const { return *graph_; }
  uint32_t channels() const { return channels_; }
  uint32_t classCount() const { return classCount_; }
  uint32_t scaleFactor() const { return package_.metadata().tessera.scaleFactor.value_or(1); }
  // A residual stage samples y = x - U, U its upsampled conditioning: its state, init and mask blend
  // live in that space; `begin` takes U off the init image and `finish` adds it back to X.
  bool residual() const { return package_.metadata().tessera.residual; }

  struct NetKey {
    uint32_t netBatch, height, width;
    ops::Padding padding;
    auto tie() const { return std::tie(netBatch, height, width, padding); }
    bool operator<(const NetKey& o) const { return tie() < o.tie(); }
  };
  struct SamplerKey {
    uint32_t n, netBatch, height, width;
    bool init, mask;
    sampler::PixelFormat format;
    uint32_t inputFactor = 1;  // the host's init image and mask are this many times the stage's size
    auto tie() const { return std::tie(n, netBatch, height, width, init, mask, format, inputFactor); }
    bool operator<(const SamplerKey& o) const { return tie() < o.tie(); }
  };
  struct SamplerPrograms {
    std::unique_ptr<Program> begin, prepare, update, finish, encode, mips;  // finish: null unless residual
  };
  // The Programs of a shape, built on first use unless `build` is false (strict shapes: then
  // Unsupported). The caller holds the context's mutex (the kernel cache).
  const Program& netProgram(const NetKey& key, bool build);
  const SamplerPrograms& samplerPrograms(const SamplerKey& key, const SharedBuffers& shared, bool build);
  // Stage k >= 1: the conditioning from the stage before's final state (n images at its size).
  const Program& conditionProgram(const Stage& previous, uint32_t n, uint32_t height, uint32_t width,
                                  const SharedBuffers& shared, bool build);
  // The float class label of a timestep class embedding (the conditioning's noise level) for
  // netBatch rows: a tensor the generator fills before the stage runs, and its bits.
  Tensor classValues(uint32_t netBatch, uint32_t height, uint32_t width) const;
  uint32_t augmentationLabelBits() const;

  sampler::SamplerState state(uint32_t n, uint32_t h, uint32_t w) const;
  std::size_t programCount() const { return netPrograms_.size() + samplerPrograms_.size() + conditionPrograms_.size(); }

  // The stage's sampler rows for a batch: start row then one per evaluation, streams offset for
  // k >= 1. The plan is the stage's own (reserved once); valid until the next call.
  struct Request {
    sampler::SamplerKind sampler;
    uint32_t steps;
    float guidance, strength;
    bool inpaint;
  };
  const sampler::StagePlan& plan(const Request& r);
  // The request a super-resolution stage runs with: its package's sampler and steps, the
  // request's strength and inpainting.
  Request ownRequest(float strength, bool inpaint) const;

 private:
  BufferRef scratch(uint64_t offset, uint64_t bytes) const;
  // An fp32 tensor of this shape at an absolute scratch offset (the state's tensors).
  Tensor fp32At(uint64_t offset, const Shape4& s) const;

  tsr_context_t& ctx_;
  const model::ModelPackage& package_;
  uint32_t index_;
  StageExtent extent_;
  ModelDefaults defaults_;
  const vk::Gpu& gpu_;
  std::unique_ptr<graph::UnetGraph> graph_;
  uint32_t channels_ = 3, classCount_ = 0;
  uint64_t x_ = 0, e_ = 0, d_ = 0, p_ = 0, init_ = 0, mask_ = 0, u_ = 0;  // absolute scratch offsets

  std::map<NetKey, std::unique_ptr<Program>> netPrograms_;
  std::map<SamplerKey, SamplerPrograms> samplerPrograms_;
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::unique_ptr<Program>> conditionPrograms_;
  sampler::PlanInput planInput_;
  sampler::PlanWorkspace planWorkspace_;
  sampler::StagePlan plan_;
};

}  // namespace tessera::runtime
