#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

constexpr VkDeviceSize kScratchAlign = 256;
constexpr uint32_t kGemmRows = 8;  // TM in attention_gemm.glsl and attention_linear.comp
constexpr double kLog2e = 1.4426950408889634;
// Query rows of a block when they must be cut finer than a pair: 32 fills a lavapipe subgroup
// of attention_scores (4 queries per lane) and a workgroup of attention_core.
constexpr std::size_t kBlockRowStep = 32;

VkDeviceSize alignUp(VkDeviceSize v) { return (v + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

struct LinearPush {
  uint32_t addResidual;
  float rescale;
};

struct ScoresPush {
  float scaleLog2e;
  uint32_t z0, row0;
};

struct BlockPush {
  uint32_t z0, row0;
};

struct CorePush {
  float scaleLog2e;
  uint32_t z0, row0, rowEnd;
};

struct RowsPush {
  uint32_t rows;
};

// Where each intermediate lives in the scratch range.
struct ScratchLayout {
  VkDeviceSize qkvBytes, qkvPart, scoresBytes, scoresPart, rowScaleBytes;
  VkDeviceSize total() const { return 3 * qkvPart + scoresPart + alignUp(rowScaleBytes); }
};

ScratchLayout scratchLayout(const Shape4& s, uint32_t headDim, DType dtype, std::size_t scoreBlockBytes) {
  const AttentionBlocks b = attentionBlocks(s, headDim, scoreBlockBytes);
  ScratchLayout l;
  l.qkvBytes = s.count() * dtypeSize(dtype);
  l.qkvPart = alignUp(l.qkvBytes);
  l.scoresBytes = std::size_t(b.pairs) * b.rows * s.h * s.w * 4;  // fp32 whatever the storage type
  l.scoresPart = alignUp(l.scoresBytes);
  l.rowScaleBytes = std::size_t(b.pairs) * b.rows * 4;
  return l;
}

// Which kernels run, chosen from the device's facts here and nowhere else. The fast path
// (attention_gemm.glsl) needs vec4 rows and subgroup broadcast from 8 lanes; the general path
// takes any shape and device.
struct Plan {
  bool fast;
  uint32_t subgroup;      // lanes per subgroup, at least 8
  uint32_t linearLocal;   // general path: lanes per workgroup of attention_linear
  uint32_t linearTokens;  // general path: tokens per lane
  uint32_t coreLocal;     // general path: query tokens per workgroup of attention_core
};

Plan plan(const vk::DeviceFacts& f, uint32_t tokens, uint32_t headDim) {
  Plan p;
  // attention_scores takes 8 keys per workgroup row, all keys in one dispatch.
  p.fast = f.hasSubgroupBroadcast() && f.subgroupSize >= 8 && headDim % 4 == 0 && tokens % 4 == 0 &&
           divUp(tokens, kGemmRows) <= f.maxWorkgroupCount[1];
  p.subgroup = std::max<uint32_t>(f.subgroupSize, 8);
  p.linearLocal = std::max<uint32_t>(32, p.subgroup);
  // Up to 4 tokens per lane keeps 8 x 4 accumulators in registers; fewer on small maps so
  // lanes are not left idle.
  p.linearTokens = std::clamp<uint32_t>(divUp(tokens, p.linearLocal), 1, 4);
  p.coreLocal = std::max<uint32_t>(32, p.subgroup);
  return p;
}

// One attention_gemm.glsl product: shapes, per-z strides (elements) and layouts.
struct Gemm {
  uint32_t m, k, nc;
  uint32_t aZ, bZ, yZ;
  uint32_t bHead, yHead;  // 0: "rows" layout
  uint32_t batches;
};

void addGemm(Program& prog, vk::KernelCache& kernels, const char* name, bool fp16, const Plan& plan,
             const Gemm& g, std::initializer_list<BufferRef> bindings, const void* push = nullptr,
             uint32_t pushSize = 0) {
  // Whole subgroups, no more lanes than there are column quads (up to 64).
  const uint32_t local = std::clamp<uint32_t>(divUp(divUp(g.nc, 4), plan.subgroup) * plan.subgroup,
                                              plan.subgroup, std::max<uint32_t>(64, plan.subgroup));
  const uint32_t spec[] = {local, g.m, g.k, g.nc, g.aZ, g.bZ, g.yZ, g.bHead, g.yHead};
  prog.add(kernels.get(name, fp16, spec), bindings, push, pushSize, divUp(g.nc, 4 * local),
           divUp(g.m, kGemmRows), g.batches, 2.0 * g.batches * g.m * g.k * g.nc);
}

// Calls fn(z0, zn, r0, rn) for each block: pairs [z0, z0 + zn), query rows [r0, r0 + rn).
template <class Fn>
void forEachBlock(const AttentionBlocks& b, uint32_t pairs, uint32_t tokens, Fn&& fn) {
  for (uint32_t z0 = 0; z0 < pairs; z0 += b.pairs)
    for (uint32_t r0 = 0; r0 < tokens; r0 += b.rows)
      fn(z0, std::min(b.pairs, pairs - z0), r0, std::min(b.rows, tokens - r0));
}

enum class Layout : uint32_t { Nchw = 0, HeadMajor = 1 };

void linearGeneral(Program& prog, vk::KernelCache& kernels, const Plan& plan, const Shape4& s,
                   uint32_t headDim, bool fp16, const BufferRef& in, Layout inLayout, const Tensor& w,
                   const Tensor& b, const BufferRef& residual, const BufferRef& out, Layout outLayout,
                   bool addResidual, float rescale) {
  const uint32_t hw = s.h * s.w;
  const uint32_t spec[] = {plan.linearLocal,
                           s.c,
                           hw,
                           plan.linearTokens,
                           headDim,
                           static_cast<uint32_t>(inLayout),
                           static_cast<uint32_t>(outLayout)};
  prog.add(kernels.get("attention_linear", fp16, spec), {in, w.ref, b.ref, residual, out},
           LinearPush{addResidual ? 1u : 0u, rescale}, divUp(hw, plan.linearLocal * plan.linearTokens),
           divUp(s.c, kGemmRows), s.n, 2.0 * s.n * hw * s.c * s.c);
}

}  // namespace

AttentionBlocks attentionBlocks(const Shape4& s, uint32_t headDim, std::size_t scoreBlockBytes) {
  const std::size_t tokens = std::size_t(s.h) * s.w;
  const std::size_t pairs = std::size_t(s.n) * (headDim ? (s.c + headDim - 1) / headDim : 0);
  if (tokens == 0 || pairs == 0) return {uint32_t(tokens), uint32_t(pairs)};
  const std::size_t fit = scoreBlockBytes / 4 / tokens;  // score rows, of any pairs, in budget
  if (fit >= pairs * tokens) return {uint32_t(tokens), uint32_t(pairs)};
  // Every pair in each block, the rows cut in steps: the same dispatch count as blocks of one
  // pair, and the pairs split only where even one step of rows of each does not fit.
  if (fit >= pairs * kBlockRowStep)
    return {uint32_t(fit / pairs / kBlockRowStep * kBlockRowStep), uint32_t(pairs)};
  const std::size_t rows = std::min(tokens, kBlockRowStep);
  return {uint32_t(rows), uint32_t(std::clamp<std::size_t>(fit / rows, 1, pairs))};
}

std::size_t attentionScratchBytes(const Shape4& shape, uint32_t headDim, DType dtype) {
  return scratchLayout(shape, headDim, dtype, kAttentionScoreBlockBytes).total();
}

void attention(Program& prog, vk::KernelCache& kernels, const Tensor& xn, const Tensor& x,
               const AttentionWeights& weights, const Tensor& scratch, const Tensor& out, uint32_t headDim,
               float rescaleOutputFactor, const AttentionOptions& options) {
  const char* op = "attention";
  const Shape4& s = xn.shape;
  const uint32_t hw = s.h * s.w;
  require(x.shape == s && out.shape == s, op,
          "shapes differ: xn " + s.str() + ", x " + x.shape.str() + ", out " + out.shape.str());
  require(headDim > 0 && s.c % headDim == 0, op,
          "head_dim " + std::to_string(headDim) + " does not divide " + std::to_string(s.c) + " channels");
  require(s.count() > 0, op, "xn " + s.str() + " is empty");
  const DType t = xn.dtype;
  const uint64_t range = kernels.gpu().facts.maxStorageBufferRange;
  const uint64_t perToken = uint64_t(s.n) * s.c * dtypeSize(t);
  require(perToken * hw <= range, op,
          std::to_string(hw) + " tokens (" + std::to_string(s.h) + "x" + std::to_string(s.w) + ") of " +
              s.str() + " make k and v " + std::to_string(perToken * hw) +
              " bytes each, bound whole; the device's " + "storage-buffer range of " + std::to_string(range) +
              " bytes allows at most " + std::to_string(range / perToken) +
              " tokens at this batch, channel count and storage type");
  require(std::isfinite(rescaleOutputFactor) && rescaleOutputFactor != 0.0f, op,
          "rescale_output_factor must be finite and non-zero");
  const std::pair<const Tensor*, const char*> named[] = {
      {&weights.toQ, "to_q.weight"},       {&weights.toQBias, "to_q.bias"},
      {&weights.toK, "to_k.weight"},       {&weights.toKBias, "to_k.bias"},
      {&weights.toV, "to_v.weight"},       {&weights.toVBias, "to_v.bias"},
      {&weights.toOut, "to_out.0.weight"}, {&weights.toOutBias, "to_out.0.bias"}};
  requireFits(xn, op, "xn");
  require(x.dtype == t && out.dtype == t, op, "xn, x and out must share one storage type");
  requireFits(x, op, "x");
  requireFits(out, op, "out");
  for (const auto& [tensor, name] : named) {
    require(tensor->dtype == t, op,
            std::string(name) + " is " + dtypeName(tensor->dtype) + ", xn is " + dtypeName(t));
    const std::size_t want = std::string(name).ends_with("bias") ? s.c : std::size_t(s.c) * s.c;
    require(tensor->shape.count() == want, op,
            std::string(name) + " has " + std::to_string(tensor->shape.count()) + " elements, " +
                std::to_string(want) + " expected for " + std::to_string(s.c) + " channels");
    requireFits(*tensor, op, name);
  }
  const std::size_t blockBytes =
      options.scoreBlockBytes ? options.scoreBlockBytes : kAttentionScoreBlockBytes;
  const ScratchLayout l = scratchLayout(s, headDim, t, blockBytes);
  // Only past a million tokens: a block holds at least 32 query rows of one pair.
  require(l.scoresBytes <= range, op,
          "a block of " + std::to_string(l.scoresBytes) + " bytes of scores for " + std::to_string(hw) +
              " tokens exceeds the device's storage-buffer range of " + std::to_string(range) + " bytes");
  require(scratch.ref.buffer != VK_NULL_HANDLE && scratch.ref.size >= l.total(), op,
          "scratch of " + std::to_string(scratch.ref.size) + " bytes is smaller than the " +
              std::to_string(l.total()) + " bytes " + s.str() + " with head_dim " + std::to_string(headDim) +
              " needs");

  const VkBuffer sb = scratch.ref.buffer;
  const VkDeviceSize at = scratch.ref.offset;
  const BufferRef q{sb, at, l.qkvBytes}, k{sb, at + l.qkvPart, l.qkvBytes},
      v{sb, at + 2 * l.qkvPart, l.qkvBytes};
  const BufferRef scores{sb, at + 3 * l.qkvPart, l.scoresBytes};
  const BufferRef rowScale{sb, at + 3 * l.qkvPart + l.scoresPart, l.rowScaleBytes};
  const bool fp16 = t == DType::F16;
  const uint32_t pairs = s.n * (s.c / headDim);
  const AttentionBlocks blocks = attentionBlocks(s, headDim, blockBytes);
  const uint32_t chw = s.c * hw;
  const float scaleLog2e = static_cast<float>(1.0 / std::sqrt(double(headDim)) * kLog2e);
  Plan pl = plan(kernels.gpu().facts, hw, headDim);
  pl.fast = pl.fast && !options.generalKernels;
  const std::pair<const Tensor*, const Tensor*> projections[] = {
      {&weights.toQ, &weights.toQBias}, {&weights.toK, &weights.toKBias}, {&weights.toV, &weights.toVBias}};
  const BufferRef* projected[] = {&q, &k, &v};

  if (pl.fast) {
    // q, k, v = W xn + b, written head-major (a head's tokens as rows).
    const Gemm proj{s.c, s.c, hw, 0, chw, chw, 0, headDim, s.n};
    const LinearPush plain{0, 1.0f};
    for (int i = 0; i < 3; ++i)
      addGemm(prog, kernels, "attention_linear_vec4", fp16, pl, proj,
              {projections[i].first->ref, xn.ref, projections[i].second->ref, xn.ref, *projected[i]}, &plain,
              sizeof plain);
    // Per block of query rows of a run of (batch, head) pairs: scores, softmax, then the output
    // rows over the block's q rows (which later blocks do not read).
    forEachBlock(blocks, pairs, hw, [&](uint32_t z0, uint32_t zn, uint32_t r0, uint32_t rn) {
      // S[t][j] = k_j . q_(r0+t) * scale, in base 2.
      const BufferRef blockScores{sb, scores.offset, VkDeviceSize(zn) * rn * hw * 4};
      const BufferRef blockRowScale{sb, rowScale.offset, VkDeviceSize(zn) * rn * 4};
      const Gemm qk{hw, headDim, rn, hw * headDim, hw * headDim, rn * hw, headDim, hw, zn};
      const ScoresPush scoresPush{scaleLog2e, z0, r0};
      addGemm(prog, kernels, "attention_scores", fp16, pl, qk, {k, q, blockScores}, &scoresPush,
              sizeof scoresPush);
      const uint32_t rows = zn * rn;
      const uint32_t softmaxSpec[] = {pl.subgroup, hw};
      prog.add(kernels.get("attention_softmax", fp16, softmaxSpec), {blockScores, blockRowScale},
               RowsPush{rows}, strideGroups(kernels.gpu(), rows, pl.subgroup), 1, 1, 4.0 * rows * hw);
      // o = softmax(S) v.
      const Gemm pv{rn, hw, headDim, rn * hw, hw * headDim, hw * headDim, 0, 0, zn};
      const BlockPush pvPush{z0, r0};
      addGemm(prog, kernels, "attention_pv", fp16, pl, pv, {blockScores, v, blockRowScale, q}, &pvPush,
              sizeof pvPush);
    });
    // out = (W_out o + b + x) / rescale, back to NCHW.
    const Gemm outProj{s.c, s.c, hw, 0, chw, chw, headDim, 0, s.n};
    const LinearPush residual{1, rescaleOutputFactor};
    addGemm(prog, kernels, "attention_linear_vec4", fp16, pl, outProj,
            {weights.toOut.ref, q, weights.toOutBias.ref, x.ref, out.ref}, &residual, sizeof residual);
    return;
  }

  for (int i = 0; i < 3; ++i)
    linearGeneral(prog, kernels, pl, s, headDim, fp16, xn.ref, Layout::Nchw, *projections[i].first,
                  *projections[i].second, xn.ref, *projected[i], Layout::HeadMajor, false, 1.0f);
  // Blocked like the fast path, so no one dispatch grows with the square of the map (a display
  // GPU's driver may reset a device over one long dispatch).
  const uint32_t spec[] = {pl.coreLocal, hw, headDim};
  forEachBlock(blocks, pairs, hw, [&](uint32_t z0, uint32_t zn, uint32_t r0, uint32_t rn) {
    prog.add(kernels.get("attention_core", fp16, spec), {q, k, v}, CorePush{scaleLog2e, z0, r0, r0 + rn},
             divUp(rn, pl.coreLocal), zn, 1, 4.0 * zn * double(rn) * hw * headDim);
  });
  // The core left the attention output, head-major, in q's place.
  linearGeneral(prog, kernels, pl, s, headDim, fp16, q, Layout::HeadMajor, weights.toOut, weights.toOutBias,
                x.ref, out.ref, Layout::Nchw, true, rescaleOutputFactor);
}

}  // namespace tessera::ops
