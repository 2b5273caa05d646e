// Recording a job: its work list (planned by begin()) into command buffers, whole or in slices.
#include "generator.hpp"

#include "image_output.hpp"
#include "model/byte_io.hpp"
#include "output_barriers.hpp"
#include "sampler/image_mips.hpp"

namespace tessera::runtime {

using model::alignUp;

void Generator::barrier(VkCommandBuffer cmd, VkPipelineStageFlags src, VkAccessFlags srcAccess,
                        VkPipelineStageFlags dst, VkAccessFlags dstAccess) const {
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = srcAccess;
  b.dstAccessMask = dstAccess;
  gpu_.fn.vkCmdPipelineBarrier(cmd, src, dst, 0, 1, &b, 0, nullptr, 0, nullptr);
}

namespace {
constexpr VkPipelineStageFlags kWork = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kAll = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                               VK_ACCESS_TRANSFER_WRITE_BIT;
}  // namespace

void Generator::recordWork(VkCommandBuffer cmd, const Work& w) {
  const auto& fn = gpu_.fn;
  switch (w.kind) {
    case WorkKind::Inputs: {
      const Group& g = groups_[w.index];
      const Item& it = items_[g.first];
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef items = scratch(layout_.params + sampler::kItemsOffset, g.count * sizeof(sampler::ItemParams));
      fn.vkCmdUpdateBuffer(cmd, items.buffer, items.offset, items.size, &itemRows_[g.first]);
      const uint64_t px = uint64_t(g.width) * g.height;
      if (it.init) {
        const BufferRef src = staging(g.initAt, g.count * px * 4), dst = scratch(layout_.rawInit, src.size);
        const VkBufferCopy c{src.offset, dst.offset, src.size};
        fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &c);
      }
      if (it.mask) {
        const BufferRef src = staging(g.maskAt, alignUp(g.count * px, 4)), dst = scratch(layout_.rawMask, src.size);
        const VkBufferCopy c{src.offset, dst.offset, src.size};
        fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &c);
      }
      break;
    }
    case WorkKind::Row: {
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef row = scratch(layout_.params + sampler::kStageOffset, sizeof(sampler::StageParams));
      fn.vkCmdUpdateBuffer(cmd, row.buffer, row.offset, row.size, &rows_[w.index]);
      break;
    }
    case WorkKind::Progress: {
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef word = staging(layout_.progress, 4);
      fn.vkCmdFillBuffer(cmd, word.buffer, word.offset, 4, w.index);
      barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
              VK_ACCESS_HOST_READ_BIT);
      evaluationsRecorded_ = w.index;
      break;
    }
    case WorkKind::Fill: {
      // The stage's float class label, the same for every row: the conditioning's noise level.
      barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
      const BufferRef& t = groups_[w.index].stages[w.stage].classValues;
      fn.vkCmdFillBuffer(cmd, t.buffer, t.offset, t.size, stages_[w.stage]->augmentationLabelBits());
      break;
    }
    case WorkKind::Outputs: recordOutputs(cmd, groups_[w.index]); break;
    case WorkKind::Dispatches: w.program->record(cmd); break;
  }
}

void Generator::recordOutputs(VkCommandBuffer cmd, const Group& g) {
  const auto& fn = gpu_.fn;
  uint32_t levels = 1;
  for (uint32_t k = 0; k < g.count; ++k) {
    const tsr_output& o = items_[g.first + k].output;
    if (o.kind == TSR_OUTPUT_IMAGE) levels = std::max(levels, o.mip_levels);
  }
  if (levels > 1) g.stages[g.stageCount - 1].sampler->mips->record(cmd, 0, levels - 1);
  barrier(cmd, kWork, kAll, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
  bool host = false, buffer = false;
  for (uint32_t k = 0; k < g.count; ++k) {
    const Item& it = items_[g.first + k];
    const tsr_output& o = it.output;
    const uint64_t bytes = sampler::pixelBytes(it.format, 1, it.height, it.width);
    const BufferRef src = scratch(layout_.pixels + k * bytes, bytes);
    if (o.kind == TSR_OUTPUT_HOST_MEMORY) {
      const BufferRef dst = staging(layout_.outputs + uint64_t(g.first + k) * layout_.slotOutput, bytes);
      const VkBufferCopy c{src.offset, dst.offset, bytes};
      fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &c);
      host = true;
    } else if (o.kind == TSR_OUTPUT_BUFFER) {
      const VkBufferCopy c{src.offset, o.offset, bytes};
      fn.vkCmdCopyBuffer(cmd, src.buffer, o.buffer, 1, &c);
      buffer = true;
    } else {
      const uint64_t align = Arena::offsetAlignment(gpu_);
      const BufferRef level0 = scratch(layout_.pixels, g.count * bytes);
      const BufferRef chain = scratch(layout_.mips, sampler::mipChainBytes(it.format, g.count, g.height, g.width, align));
      recordImageOutput(fn, cmd, o, {level0, chain, it.format, g.count, k, it.width, it.height, align});
    }
  }
  if (host)
    barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
            VK_ACCESS_HOST_READ_BIT);
  if (buffer)
    barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT, bufferReaders().stages,
            bufferReaders().access);
}

// ---- recording --------------------------------------------------------------------------------

bool Generator::recordSlice(VkCommandBuffer cmd, double budget) {
  if (state_ != State::Begun) requireState(State::Begun, "recording");
  if (!cmd) fail(ErrorCode::InvalidArgument, "command buffer is VK_NULL_HANDLE");
  if (!(budget > 0)) fail(ErrorCode::InvalidArgument, "budget must be positive");
  // Whatever the host recorded before us in this command buffer is visible to our first command.
  barrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_ACCESS_MEMORY_WRITE_BIT, kWork, kAll);
  if (cursor_ == 0 && dispatchCursor_ == 0)
    for (const auto& st : stages_)
      if (!st->graph().weightsUploaded()) st->graph().recordWeightUpload(cmd);
  const double units = budget * 1e6;  // one unit: a million floating-point operations
  double spent = 0;
  bool any = false;
  while (cursor_ < work_.size()) {
    const Work& w = work_[cursor_];
    if (w.kind != WorkKind::Dispatches) {
      recordWork(cmd, w);
      ++cursor_;
      continue;
    }
    const Program& p = *w.program;
    const std::size_t first = dispatchCursor_;
    std::size_t end = first;
    while (end < p.size()) {
      const double c = p.cost(end);
      if (any && spent + c > units) break;
      spent += c;
      workRecorded_ += c / 1e6;
      any = true;
      ++end;
    }
    if (end > first) p.record(cmd, first, end - first);
    dispatchCursor_ = end;
    if (end < p.size()) return ++slices_, false;
    dispatchCursor_ = 0;
    ++cursor_;
  }
  ++slices_;
  state_ = State::Recorded;
  return true;
}

void Generator::record(VkCommandBuffer cmd) {
  requireState(State::Begun, "tsr_generator_record");
  recordSlice(cmd, 1e300);
}

}  // namespace tessera::runtime
