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

#include <array>

#include "arena.hpp"
#include "cascade_sizes.hpp"
#include "generator_config.hpp"
#include "graph/unet_graph.hpp"
#include "handles.hpp"
#include "model_defaults.hpp"
#include "sampler/image_encode.hpp"
#include "sampler/sampler_params.hpp"
#include "sampler/schedule.hpp"
#include "sampler/sampler_state.hpp"
#include "stage.hpp"

namespace tessera::runtime {

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

  // For tests and benchmarks: the programs built so far.
  std::size_t programCount() const;

 private:
  enum class State { Idle, Begun, Recorded, Submitted };
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
    CascadeSizes sizes;  // the stages it runs and their sizes
    bool sameGroup(const Item& o) const;
  };
  // One stage's part of a group's work.
  struct StageRun {
    const Program* net;
    const Stage::SamplerPrograms* sampler;
    const Program* condition;  // stage k >= 1: the conditioning from the stage before
    BufferRef classValues;     // stage k >= 1: its float class label, filled before it runs
    std::size_t startRow;      // rows_[startRow] is the start row, then one per evaluation
  };
  struct Group {
    std::array<StageRun, kMaxPipelineStages> stages;
    uint32_t stageCount;
    uint32_t first, count;  // items [first, first+count) of the job, also their staging slots
    uint32_t width, height;
    uint64_t initAt, maskAt;  // the group's packed inputs in staging
  };
  enum class WorkKind : uint8_t { Inputs, Row, Dispatches, Progress, Fill, Outputs };
  struct Work {
    WorkKind kind;
    uint32_t index;          // Inputs/Outputs: group; Row: row; Progress: evaluations done after it
    const Program* program;  // Dispatches
    uint32_t stage = 0;      // Fill: the stage of group `index` whose class label is filled
  };

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
  Arena& arena() const { return stages_[0]->graph().arena(); }
  BufferRef scratch(uint64_t offset, uint64_t bytes) const;
  BufferRef staging(uint64_t offset, uint64_t bytes) const;

  tsr_context_t& ctx_;
  const model::ModelPackage& package_;
  GeneratorConfig config_;
  ModelDefaults defaults_;
  const vk::Gpu& gpu_;
  std::vector<std::unique_ptr<Stage>> stages_;  // the base, then the super-resolution stages in reach
  uint32_t channels_ = 3, classCount_ = 0;

  // The generator's part of the scratch region (absolute offsets) and of staging.
  struct Layout {
    uint64_t params, pixels, mips, rawInit, rawMask, cond;  // scratch
    uint64_t progress, inputs, masks, outputs, slotOutput;  // staging
  } layout_{};
  SharedBuffers shared_{};

  // The job (capacity reserved at creation so that a job of prepared shapes allocates nothing).
  State state_ = State::Idle;
  std::vector<Item> items_;
  std::vector<Group> groups_;
  std::vector<sampler::StageParams> rows_;
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
