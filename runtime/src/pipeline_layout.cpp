#include "pipeline_layout.hpp"

#include "model/byte_io.hpp"
#include "sampler/image_mips.hpp"
#include "sampler/sampler_params.hpp"

namespace tessera::runtime {

using model::alignUp;

graph::UnetGraphOptions stageGraphOptions(const GeneratorConfig& c, const StageExtent& e) {
  graph::UnetGraphOptions o;
  o.batch = e.netBatch;
  o.height = e.height;
  o.width = e.width;
  o.dtype = c.dtype;
  o.deviceIO = true;
  return o;
}

PipelineLayout layoutPipeline(tsr_context_t& ctx, const model::ModelPackage& package, const GeneratorConfig& c) {
  const vk::Gpu& gpu = ctx.device->gpu();
  const uint64_t align = Arena::offsetAlignment(gpu);
  const uint32_t channels = modelDefaults(package).imageChannels;
  PipelineLayout l;
  l.extents = stageExtents(package, c.maxWidth, c.maxHeight);
  for (uint32_t k = 0; k < l.extents.count; ++k) {
    StageExtent& e = l.stage[k];
    e.maxBatch = c.maxBatch;
    e.netBatch = k == 0 && c.guidance ? 2 * c.maxBatch : c.maxBatch;
    e.height = l.extents.height[k];
    e.width = l.extents.width[k];
  }
  // Shared buffers, at the request's largest size.
  const uint64_t px = uint64_t(c.maxHeight) * c.maxWidth;
  uint64_t at = 0, cond = 0;
  for (uint32_t k = 0; k + 1 < l.extents.count; ++k)
    cond = std::max(cond, uint64_t(c.maxBatch) * channels * l.stage[k].height * l.stage[k].width * 4);
  l.params = at;
  at += alignUp(sampler::paramsBytes(c.maxBatch), align);
  l.pixels = at;
  at += alignUp(sampler::pixelBytes(sampler::PixelFormat::Rgba16F, c.maxBatch, c.maxHeight, c.maxWidth), align);
  l.mips = at;  // the largest chain holds any smaller one (sampler::mipChainBytes)
  at += alignUp(sampler::mipChainBytes(sampler::PixelFormat::Rgba16F, c.maxBatch, c.maxHeight, c.maxWidth, align), align);
  l.rawInit = at;
  at += alignUp(uint64_t(c.maxBatch) * px * 4, align);
  l.rawMask = at;
  at += alignUp(uint64_t(c.maxBatch) * px, align);
  l.cond = at;
  at += alignUp(std::max<uint64_t>(cond, 4), align);
  l.stateAt[0] = at;
  at += Stage::stateBytes(channels, l.stage[0], false, align);
  for (uint32_t k = 1; k < l.extents.count; ++k) {
    // Each later stage's own network: plan it alone for its weights, activations and device IO.
    graph::UnetGraphOptions o = stageGraphOptions(c, l.stage[k]);
    o.planOnly = true;
    const graph::UnetGraph plan(gpu, *ctx.kernels, package.stages()[k - 1], o);
    l.weightsAt[k] = l.extraWeights;
    l.extraWeights += alignUp(plan.arenaSizes().weights, align);
    l.maxActivations = std::max(l.maxActivations, plan.arenaSizes().activations);
    l.ioAt[k] = at;
    at += plan.arenaSizes().scratch;
    l.stateAt[k] = at;
    at += Stage::stateBytes(channels, l.stage[k], package.stages()[k - 1].metadata().tessera.residual, align);
  }
  l.extraScratch = at;
  // Staging: the progress word; the job's init images and masks, packed group after group and
  // copied to rawInit / rawMask when the group starts; one host-memory output slot per image.
  l.progress = 0;
  l.inputs = align;
  l.masks = l.inputs + alignUp(uint64_t(c.maxBatch) * px * 4, align);
  l.outputs = l.masks + alignUp(uint64_t(c.maxBatch) * px, align);
  l.slotOutput = alignUp(px * 8, 16);
  l.staging = l.outputs + c.maxBatch * l.slotOutput;
  // The later stages' packed weights wait in staging for the first job to copy them, as the base's do.
  l.stageWeightsStaging = alignUp(l.staging, align);
  l.staging = l.stageWeightsStaging + l.extraWeights;
  return l;
}

graph::UnetGraphOptions baseGraphOptions(const GeneratorConfig& c, const PipelineLayout& l) {
  graph::UnetGraphOptions o = stageGraphOptions(c, l.stage[0]);
  o.extraScratchBytes = l.extraScratch;
  o.extraStagingBytes = l.staging;
  o.extraWeightsBytes = l.extraWeights;
  o.minActivationBytes = l.maxActivations;
  o.deferWeightUpload = true;  // creation submits nothing: the first job's recording copies them
  o.deviceMemory = c.deviceMemory;
  o.stagingMemory = c.stagingMemory;
  return o;
}

}  // namespace tessera::runtime
