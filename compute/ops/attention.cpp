#include "ops/attention.hpp"

#include <algorithm>
#include <cmath>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

constexpr VkDeviceSize kScratchAlign = 256;
constexpr uint32_t kGemmRows = 8;  // TM in attention_gemm.glsl and attention_linear.comp
constexpr double kLog2e = 1.4426950408889634;

VkDeviceSize alignUp(VkDeviceSize v) { return (v + kScratchAlign - 1) / kScratchAlign * kScratchAlign; }

struct LinearPush {
  uint32_t addResidual;
  float rescale;
};

struct ScalePush {
  float scaleLog2e;
};

struct RowsPush {
  uint32_t rows;
};

// Where each intermediate lives in the scratch range.
struct ScratchLayout {
  VkDeviceSize qkvBytes, qkvPart, scoresBytes, scoresPart, rowScaleBytes;
  VkDeviceSize total() const { return 3 * qkvPart + scoresPart + alignUp(rowScaleBytes); }
};

ScratchLayout scratchLayout(const Shape4& s, uint32_t headDim, DType dtype) {
  const std::size_t hw = std::size_t(s.h) * s.w;
  const std::size_t heads = headDim ? (s.c + headDim - 1) / headDim : 0;
  ScratchLayout l;
  l.qkvBytes = s.count() * dtypeSize(dtype);
  l.qkvPart = alignUp(l.qkvBytes);
  l.scoresBytes = std::size_t(s.n) * heads * hw * hw * 4;  // fp32 whatever the storage type
  l.scoresPart = alignUp(l.scoresBytes);
  l.rowScaleBytes = std::size_t(s.n) * heads * hw * 4;
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
  p.fast = f.hasSubgroupBroadcast() && f.subgroupSize >= 8 && headDim % 4 == 0 && tokens % 4 == 0;
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

std::size_t attentionScratchBytes(const Shape4& shape, uint32_t headDim, DType dtype) {
  return scratchLayout(shape, headDim, dtype).total();
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
  require(hw <= kAttentionMaxTokens, op,
          std::to_string(hw) + " tokens (" + std::to_string(s.h) + "x" + std::to_string(s.w) +
              ") exceed the " + std::to_string(kAttentionMaxTokens) + " this kernel serves");
  require(std::isfinite(rescaleOutputFactor) && rescaleOutputFactor != 0.0f, op,
          "rescale_output_factor must be finite and non-zero");
  const DType t = xn.dtype;
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
  const ScratchLayout l = scratchLayout(s, headDim, t);
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
  const uint32_t heads = s.c / headDim;
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
    // Per (batch, head): scores S[t][j] = k_j . q_t * scale, in base 2.
    const Gemm qk{hw, headDim, hw, hw * headDim, hw * headDim, hw * hw, headDim, hw, s.n * heads};
    const ScalePush scale{scaleLog2e};
    addGemm(prog, kernels, "attention_scores", fp16, pl, qk, {k, q, scores}, &scale, sizeof scale);
    const uint32_t rows = s.n * heads * hw;
    const uint32_t softmaxSpec[] = {pl.subgroup, hw};
    prog.add(kernels.get("attention_softmax", fp16, softmaxSpec), {scores, rowScale}, RowsPush{rows},
             strideGroups(kernels.gpu(), rows, pl.subgroup), 1, 1, 4.0 * rows * hw);
    // o = softmax(S) v, over q's place (q is no longer needed).
    const Gemm pv{hw, hw, headDim, hw * hw, hw * headDim, hw * headDim, 0, 0, s.n * heads};
    addGemm(prog, kernels, "attention_pv", fp16, pl, pv, {scores, v, rowScale, q});
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
  const uint32_t spec[] = {pl.coreLocal, s.c, hw, headDim};
  prog.add(kernels.get("attention_core", fp16, spec), {q, k, v}, ScalePush{scaleLog2e},
           divUp(hw, pl.coreLocal), heads, s.n, 4.0 * s.n * double(hw) * hw * s.c);
  // The core left the attention output, head-major, in q's place.
  linearGeneral(prog, kernels, pl, s, headDim, fp16, q, Layout::HeadMajor, weights.toOut, weights.toOutBias,
                x.ref, out.ref, Layout::Nchw, true, rescaleOutputFactor);
}

}  // namespace tessera::ops
