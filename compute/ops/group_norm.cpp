#include "ops/group_norm.hpp"

#include <algorithm>
#include <limits>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

constexpr const char* kOp = "groupNorm";

struct Push {
  uint32_t batch;
  uint32_t channels;
  uint32_t groups;
  uint32_t groupChannels;
  uint32_t pixels;
  float eps;
  uint32_t firstChannels;
};

bool overlaps(const BufferRef& a, const BufferRef& b) {
  return a.buffer == b.buffer && a.offset < b.offset + b.size && b.offset < a.offset + a.size;
}

// The normalised tensor's shape: the input's, with in2's channels after its own.
Shape4 fullShape(const GroupNormIO& io) {
  Shape4 s = io.in.shape;
  if (io.in2) s.c += io.in2->shape.c;
  return s;
}

void validate(const GroupNormIO& io, const GroupNormParams& params) {
  const Shape4 s = fullShape(io);
  if (io.in2) {
    const Shape4& a = io.in.shape;
    const Shape4& b = io.in2->shape;
    require(b.n == a.n && b.h == a.h && b.w == a.w && b.c > 0, kOp,
            "in2 " + b.str() + " must match in " + a.str() + " in batch, height and width");
    require(io.in2->dtype == io.in.dtype, kOp, "tensors must share one storage type");
    requireFits(*io.in2, kOp, "in2");
    // The output's channel planes sit elsewhere than either part's, so no in-place run.
    for (const Tensor* part : {&io.in, io.in2})
      require(!overlaps(io.out.ref, part->ref), kOp, "out must not overlap in or in2 when the input has two parts");
  }
  require(io.gamma.ref.buffer != VK_NULL_HANDLE && io.beta.ref.buffer != VK_NULL_HANDLE, kOp,
          "affine gamma and beta are required");
  require(params.groups > 0 && s.c % params.groups == 0, kOp,
          std::to_string(params.groups) + " groups do not divide " + std::to_string(s.c) + " channels");
  require(params.eps > 0.0f, kOp, "eps must be positive");
  if (params.coefficientsOnly) {
    require(!params.silu, kOp, "with coefficientsOnly the consumer applies SiLU; silu must be false");
    require(io.out.shape == (Shape4{s.n, s.c, 1, 4}) && io.out.dtype == DType::F32, kOp,
            "coefficients " + io.out.shape.str() + " must be fp32 [N,C,1,4] for input " + s.str());
    for (const Tensor* part : {&io.in, io.in2})
      require(!part || !overlaps(io.out.ref, part->ref), kOp, "coefficients must not overlap the input");
  } else {
    require(io.out.shape == s, kOp, "output " + io.out.shape.str() + " differs from input " + s.str());
  }
  require(io.gamma.shape.count() == s.c && io.beta.shape.count() == s.c, kOp,
          "gamma " + io.gamma.shape.str() + " and beta " + io.beta.shape.str() + " must hold " +
              std::to_string(s.c) + " values");
  // Element indices are 32-bit in the shader.
  require(s.count() <= std::numeric_limits<uint32_t>::max(), kOp, "input " + s.str() + " is too large");
  const DType t = io.in.dtype;
  bool sameType = (params.coefficientsOnly || io.out.dtype == t) && io.gamma.dtype == t && io.beta.dtype == t;
  if (io.preAdd) {
    require(io.preAdd->shape == Shape4{s.n, s.c, 1, 1}, kOp,
            "preAdd " + io.preAdd->shape.str() + " must be [N,C,1,1] for input " + s.str());
    requireFits(*io.preAdd, kOp, "preAdd");
    sameType = sameType && io.preAdd->dtype == t;
  }
  if (io.scaleShift) {
    require(io.scaleShift->shape == Shape4{s.n, 2 * s.c, 1, 1}, kOp,
            "scaleShift " + io.scaleShift->shape.str() + " must be [N,2C,1,1] for input " + s.str());
    requireFits(*io.scaleShift, kOp, "scaleShift");
    sameType = sameType && io.scaleShift->dtype == t;
  }
  require(sameType, kOp, "tensors must share one storage type");
  requireFits(io.in, kOp, "in");
  requireFits(io.out, kOp, "out");
  requireFits(io.gamma, kOp, "gamma");
  requireFits(io.beta, kOp, "beta");
}

}  // namespace

namespace {

// The kernel's dispatch: one workgroup per (n, group), as many as the device allows.
uint32_t groupsX(const vk::DeviceFacts& f, uint32_t groups) { return std::min(groups, f.maxWorkgroupCount[0]); }
uint32_t groupsY(const vk::DeviceFacts& f, const Shape4& in) { return std::min(in.n, f.maxWorkgroupCount[1]); }

// The device's preferred size. On a CPU device (lavapipe) one subgroup: lavapipe runs a
// workgroup's subgroups one after another between barriers, each striding through the whole run;
// one subgroup reading it front to back was 1.6-1.8x faster than 256 invocations at 256x256x64
// (docs/KERNELS.md). On a GPU 256 keeps enough loads in flight per (n, group); 128 is all that
// Vulkan promises every device.
uint32_t preferredLocalSize(const vk::DeviceFacts& facts) {
  if (facts.isCpu()) return std::clamp<uint32_t>(facts.subgroupSize, 1, facts.maxWorkgroupInvocations);
  return facts.maxWorkgroupInvocations >= 256 ? 256 : 128;
}

// What a loop limit leaves for the kernel's own loops: an eighth stays for whatever loops the
// compiler adds.
uint64_t loopBudget(const vk::DeviceFacts& f) { return f.loopIterationLimit - f.loopIterationLimit / 8; }

uint64_t ceilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace

uint64_t groupNormLoopIterations(const vk::DeviceFacts& facts, const Shape4& in, uint32_t groups,
                                 GroupNormVariant variant, uint32_t localSize) {
  if (variant == GroupNormVariant::Auto) variant = groupNormVariant(facts, in);
  const uint64_t vecs = uint64_t(in.h) * in.w / (variant == GroupNormVariant::Vec4 ? 4 : 1);
  const uint64_t cpg = in.c / groups;
  uint64_t tree = 0;
  for (uint32_t s = localSize / 2; s > 0; s >>= 1) ++tree;
  // Per (n, group): two passes over its channels' planes (statistics, output; the coefficients
  // mode skips the second, which this count keeps), the per-channel loops and one reduction tree.
  const uint64_t perGroup = 2 * cpg * ceilDiv(vecs, localSize) + 4 * cpg + tree + 1;
  return ceilDiv(in.n, groupsY(facts, in)) * (ceilDiv(groups, groupsX(facts, groups)) * perGroup + 1);
}

uint32_t groupNormLocalSize(const vk::DeviceFacts& facts, const Shape4& in, uint32_t groups,
                            GroupNormVariant variant) {
  uint32_t local = preferredLocalSize(facts);
  if (!facts.loopIterationLimit || groups == 0) return local;
  // A driver that ends long loops early would leave the rest of the group unwritten: give the
  // group more invocations instead, each walking a shorter share of it.
  while (groupNormLoopIterations(facts, in, groups, variant, local) > loopBudget(facts)) {
    if (local * 2 > facts.maxWorkgroupInvocations)
      fail(ErrorCode::Unsupported,
           std::string(kOp) + ": " + in.str() + " in " + std::to_string(groups) +
               " groups needs more loop iterations per invocation than this device runs (" +
               std::to_string(facts.loopIterationLimit) + "), even with " + std::to_string(local) +
               " invocations per group");
    local *= 2;
  }
  return local;
}

GroupNormVariant groupNormVariant(const vk::DeviceFacts&, const Shape4& in) {
  // A vec4 must not straddle two channel planes; wider loads are what lavapipe rewards
  // (docs/KERNELS.md has the figures) and never hurt a GPU.
  return (std::size_t(in.h) * in.w) % 4 == 0 ? GroupNormVariant::Vec4 : GroupNormVariant::Scalar;
}

void groupNorm(Program& prog, vk::KernelCache& kernels, const GroupNormIO& io, const GroupNormParams& params,
               GroupNormVariant variant, uint32_t localSize) {
  validate(io, params);
  const Shape4 s = fullShape(io);
  const vk::DeviceFacts& facts = kernels.gpu().facts;
  if (variant == GroupNormVariant::Auto) variant = groupNormVariant(facts, s);
  const bool vec4 = variant == GroupNormVariant::Vec4;
  require(!vec4 || (std::size_t(s.h) * s.w) % 4 == 0, kOp, "the vec4 variant needs H*W a multiple of 4");

  const uint32_t local = localSize ? localSize : groupNormLocalSize(facts, s, params.groups, variant);
  require((local & (local - 1)) == 0 && local <= facts.maxWorkgroupInvocations, kOp,
          "workgroup size " + std::to_string(local) + " must be a power of two the device allows");
  if (facts.loopIterationLimit)
    require(groupNormLoopIterations(facts, s, params.groups, variant, local) <= loopBudget(facts), kOp,
            "workgroup size " + std::to_string(local) + " leaves " + s.str() +
                " too many loop iterations per invocation for this device");
  const uint32_t spec[] = {local, io.preAdd ? 1u : 0u, io.scaleShift ? 1u : 0u, params.silu ? 1u : 0u,
                           io.in2 ? 1u : 0u, params.coefficientsOnly ? 1u : 0u};
  const vk::Kernel& k = kernels.get(vec4 ? "group_norm_vec4" : "group_norm", io.in.dtype == DType::F16, spec);

  const Push push{s.n, s.c, params.groups, s.c / params.groups, s.h * s.w, params.eps, io.in.shape.c};
  // Unused optional inputs are bound to `in` (never read) since the binding count is fixed.
  const BufferRef preAdd = io.preAdd ? io.preAdd->ref : io.in.ref;
  const BufferRef scaleShift = io.scaleShift ? io.scaleShift->ref : io.in.ref;
  const BufferRef in2 = io.in2 ? io.in2->ref : io.in.ref;
  // The normalised tensor and the coefficients have one binding each; the unused one is bound to
  // the other (never written).
  const BufferRef out = io.out.ref;
  const uint32_t gx = groupsX(facts, params.groups);
  const uint32_t gy = groupsY(facts, s);
  const double flops = (params.coefficientsOnly ? 5.0 : 8.0) * double(s.count()) + (params.silu ? 4.0 * double(s.count()) : 0.0);
  prog.add(k, {io.in.ref, io.gamma.ref, io.beta.ref, preAdd, scaleShift, out, in2, out}, push, gx, gy, 1, flops);
}

}  // namespace tessera::ops
