#pragma once
// A generator: one model on one context, with its arena and the Programs of the shapes it runs.
// A job (up to maxBatch requests) is validated and planned at begin(); then recorded whole, in
// slices, or on the context's queue. docs/API.md describes the lifecycle and what is recorded.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

#include "arena.hpp"
#include "graph/unet_graph.hpp"
#include "handles.hpp"
#include "model_defaults.hpp"
#include "sampler/image_encode.hpp"
#include "sampler/sampler_params.hpp"
#include "sampler/schedule.hpp"
#include "sampler/sampler_state.hpp"

namespace tessera::runtime {

struct GeneratorConfig {
  uint32_t maxWidth = 0, maxHeight = 0, maxBatch = 1;
  DType dtype = DType::F32;
  bool guidance = true;  // reserve and build the conditional + null batch
  bool strictShapes = false;
  std::vector<tsr_shape> prepared;
  const HostMemoryBlock* deviceMemory = nullptr;
  const HostMemoryBlock* stagingMemory = nullptr;
};

// Validates a description against the context and model and fills the defaults.
GeneratorConfig generatorConfig(const tsr_context_t& ctx, const model::ModelPackage& package,
                                const tsr_generator_desc& desc, HostMemoryBlock blocks[2]);

class Generator {
 public:
  static tsr_memory_requirements query(tsr_context_t& ctx, const model::ModelPackage& package,
                                       const GeneratorConfig& config);
  Generator(tsr_context_t& ctx, const model::ModelPackage& package, const GeneratorConfig& config);
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  void begin(const tsr_request* requests, uint32_t count);
  void beginJob(const tsr_request* requests, uint32_t count);
  void record(VkCommandBuffer cmd);
  bool recordSlice(VkCommandBuffer cmd, double budget);  // true once everything is recorded
  void complete();
  void cancel();
  void submit();
  bool poll();                   // true once the submitted job is complete
  bool wait(uint64_t timeoutNs);  // likewise, waiting at most timeoutNs
  tsr_progress progress() const;

  // For tests and benchmarks: the programs built so far, and whether a shape is prepared.
  std::size_t programCount() const { return netPrograms_.size() + samplerPrograms_.size(); }

 private:
  enum class State { Idle, Begun, Recorded, Submitted };
  // The network's Program depends on the batch it runs, the size and the padding; the sampler's
  // small Programs also on the images' count and which inputs and output format the group has.
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
    auto tie() const { return std::tie(n, netBatch, height, width, init, mask, format); }
    bool operator<(const SamplerKey& o) const { return tie() < o.tie(); }
  };
  struct SamplerPrograms {
    std::unique_ptr<Program> begin, prepare, update, encode, mips;
  };
  struct Item {
    const tsr_request* request;  // valid during begin() only: inputs are copied there
    tsr_output output;           // copied: the host's request need not outlive begin()
    uint32_t width, height, classLabel;
    uint64_t seed;
    sampler::SamplerKind sampler;
    uint32_t steps;
    float guidance, strength;
    ops::Padding padding;
    sampler::PixelFormat format;
    bool init, mask;
    uint32_t index;  // in the host's array
    bool sameGroup(const Item& o) const;
  };
  struct Group {
    const Program* net;
    const SamplerPrograms* sampler;
    uint32_t first, count;  // items [first, first+count) of the job, also their staging slots
    uint32_t width, height;
    uint64_t initAt, maskAt;  // the group's packed inputs in staging
    std::size_t startRow;   // rows_[startRow] is the start row, then one per evaluation
  };
  enum class WorkKind : uint8_t { Inputs, Row, Dispatches, Progress, Outputs };
  struct Work {
    WorkKind kind;
    uint32_t index;          // Inputs/Outputs: group; Row: row; Progress: evaluations done after it
    const Program* program;  // Dispatches
  };

  const Program& netProgram(const NetKey& key, bool build);
  const SamplerPrograms& samplerPrograms(const SamplerKey& key, bool build);
  void prepareShape(const tsr_shape& shape);
  Item normalize(const tsr_request& r) const;
  void planGroup(std::size_t groupIndex);
  void recordWork(VkCommandBuffer cmd, const Work& w);
  void recordOutputs(VkCommandBuffer cmd, const Group& g);
  void barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags srcAccess, VkPipelineStageFlags dst,
               VkAccessFlags dstAccess) const;
  uint32_t readProgress() const;
  void finishJob();
  void requireState(State s, const char* what) const;
  BufferRef scratch(uint64_t offset, uint64_t bytes) const;
  BufferRef staging(uint64_t offset, uint64_t bytes) const;

  tsr_context_t& ctx_;
  const model::ModelPackage& package_;
  GeneratorConfig config_;
  ModelDefaults defaults_;
  const vk::Gpu& gpu_;
  std::unique_ptr<graph::UnetGraph> graph_;
  uint32_t channels_ = 3, classCount_ = 0;

  // The sampler's part of the scratch region and of staging (offsets; see the constructor).
  struct Layout {
    uint64_t x, e, d, p, init, mask, params, pixels, mips, rawInit, rawMask;  // scratch
    uint64_t progress, inputs, masks, outputs, slotOutput;                // staging
  } layout_{};
  sampler::SamplerState state(uint32_t n, uint32_t h, uint32_t w) const;

  std::map<NetKey, std::unique_ptr<Program>> netPrograms_;
  std::map<SamplerKey, SamplerPrograms> samplerPrograms_;
  std::optional<sampler::NoiseSchedule> schedule_;
  // plan()'s input, scratch and output, reserved at creation so that begin() allocates nothing.
  sampler::PlanInput planInput_;
  sampler::PlanWorkspace planWorkspace_;
  sampler::StagePlan plan_;

  // The job (capacity reserved at creation so that a job of prepared shapes allocates nothing).
  State state_ = State::Idle;
  std::vector<Item> items_;
  std::vector<Group> groups_;
  std::vector<sampler::StageParams> rows_;
  std::vector<uint32_t> groupRows_;  // evaluations of each group
  std::vector<sampler::ItemParams> itemRows_;
  std::vector<Work> work_;
  std::size_t cursor_ = 0, dispatchCursor_ = 0;
  uint32_t slices_ = 0;  // recording calls of this job (record, submit and each slice count one)
  uint32_t evaluationsTotal_ = 0, evaluationsRecorded_ = 0, evaluationsDone_ = 0;
  double workTotal_ = 0, workRecorded_ = 0;  // in budget units (millions of operations)
  bool completed_ = false;

  // Own-queue mode.
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
};

}  // namespace tessera::runtime
