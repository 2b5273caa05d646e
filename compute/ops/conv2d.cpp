#include "ops/conv2d.hpp"

#include <string>

#include "ops/conv2d_internal.hpp"
#include "ops/conv2d_variants.hpp"
#include "ops/op_common.hpp"

namespace tessera::ops {

using namespace conv2d_detail;

const char* variantName(Conv2dVariant v) {
  switch (v) {
    case Conv2dVariant::Auto:
      return "auto";
    case Conv2dVariant::Direct:
      return "direct";
    case Conv2dVariant::Subgroup:
      return "subgroup";
    case Conv2dVariant::Winograd:
      return "winograd";
    case Conv2dVariant::Pointwise:
      return "pointwise";
    case Conv2dVariant::Tiled:
      return "tiled";
  }
  return "?";
}

const char* padPlacementName(PadPlacement p) { return p == PadPlacement::After ? "after" : "both"; }

namespace {

bool subgroupKernelsRun(const vk::DeviceFacts& f) {
  // The subgroup kernels run one subgroup per workgroup and share data with shuffles.
  return f.subgroupBasic && f.subgroupShuffle && f.subgroupSize >= 4 && f.subgroupSize <= 64 &&
         f.maxWorkgroupInvocations >= f.subgroupSize;
}

// Shared memory of conv2d_tiled.comp: 64 output channels x 8 input channels x K*K weights and
// 8 input channels x the input patch of an 8x8 output block.
uint32_t tiledSharedBytes(const Conv2dParams& p) {
  const uint32_t patch = 7 * p.stride + p.kernel;
  return (64 * 8 * p.kernel * p.kernel + 8 * patch * patch) * 4;
}

bool tiledRuns(const vk::DeviceFacts& f, const Conv2dParams& p) {
  return f.maxWorkgroupInvocations >= 256 && f.maxSharedMemory >= tiledSharedBytes(p);
}

}  // namespace

Conv2dVariant Conv2d::choose(const vk::DeviceFacts& facts, const Conv2dParams& p, DType) {
  if (facts.isCpu()) {
    if (!subgroupKernelsRun(facts)) return Variant::Direct;
    // On CPU devices (lavapipe) every load whose address differs per lane is a loop over the
    // lanes, so the variants that load each value once per subgroup and shuffle it win; Winograd
    // F(4,3) does 4x fewer multiplications for 3x3 stride-1 layers. Figures: BENCHMARKS.md.
    if (p.kernel == 3 && p.stride == 1 && p.padPlacement == PadPlacement::Both) return Variant::Winograd;
    if (p.kernel == 1 && p.stride == 1) return Variant::Pointwise;
    return Variant::Subgroup;
  }
  // GPUs: shared-memory tiling, the classic layout for them (not timed on a GPU yet); the direct
  // kernel where the workgroup or shared memory is too small.
  return tiledRuns(facts, p) ? Variant::Tiled : Variant::Direct;
}

Conv2d::Conv2d(const vk::DeviceFacts& facts, Conv2dParams params, DType dtype, Variant variant)
    : p_(params),
      dtype_(dtype),
      variant_(variant),
      subgroupSize_(facts.subgroupSize),
      offsetAlignment_(std::max<uint64_t>(facts.minStorageBufferOffsetAlignment, 16)),
      storageRange_(facts.maxStorageBufferRange) {
  require(p_.kernel == 1 || p_.kernel == 3, kOp, "kernel must be 1 or 3, got " + std::to_string(p_.kernel));
  require(p_.stride == 1 || p_.stride == 2, kOp, "stride must be 1 or 2, got " + std::to_string(p_.stride));
  require(p_.inChannels > 0 && p_.outChannels > 0, kOp, "channel counts must be positive");
  require(p_.in2Channels < p_.inChannels, kOp,
          "in2Channels (" + std::to_string(p_.in2Channels) + ") must leave channels for the first input of " +
              std::to_string(p_.inChannels));
  require(p_.padPlacement == PadPlacement::Both || p_.kernel == 3, kOp,
          "pad placement 'after' applies to a 3x3 kernel (a 1x1 kernel pads nothing)");
  if (variant_ == Variant::Auto) variant_ = choose(facts, p_, dtype);
  if (variant_ == Variant::Winograd || variant_ == Variant::Pointwise)
    require(p_.padPlacement == PadPlacement::Both, kOp,
            std::string("the ") + (variant_ == Variant::Winograd ? "Winograd" : "pointwise") +
                " variant pads both sides only; pad placement 'after' needs the direct, subgroup or "
                "tiled variant");
  if (variant_ == Variant::Winograd)
    require(p_.kernel == 3 && p_.stride == 1, kOp,
            "the Winograd variant needs a 3x3 kernel with stride 1 (got " + std::to_string(p_.kernel) + "x" +
                std::to_string(p_.kernel) + " stride " + std::to_string(p_.stride) + ")");
  if (variant_ == Variant::Pointwise)
    require(p_.kernel == 1 && p_.stride == 1, kOp,
            "the pointwise variant needs a 1x1 kernel with stride 1 (got " + std::to_string(p_.kernel) + "x" +
                std::to_string(p_.kernel) + " stride " + std::to_string(p_.stride) + ")");
  if (variant_ == Variant::Tiled)
    require(tiledRuns(facts, p_), kOp,
            "the tiled variant needs 256 invocations and " + std::to_string(tiledSharedBytes(p_)) +
                " bytes of shared memory per workgroup");
  if (variant_ != Variant::Direct && variant_ != Variant::Tiled)
    require(subgroupKernelsRun(facts), kOp,
            std::string("the ") + variantName(variant_) + " variant needs subgroup shuffles on this device");
}

Shape4 Conv2d::outputShape(Shape4 in) const {
  const uint32_t pad = p_.padTotal();
  auto out = [&](uint32_t s) { return s + pad < p_.kernel ? 0u : (s + pad - p_.kernel) / p_.stride + 1; };
  return {in.n, p_.outChannels, out(in.h), out(in.w)};
}

double Conv2d::flops(Shape4 in) const {
  const Shape4 o = outputShape(in);
  return 2.0 * o.count() * p_.inChannels * p_.kernel * p_.kernel;
}

std::size_t Conv2d::packedWeightCount() const {
  switch (variant_) {
    case Variant::Subgroup:
      return conv2d_subgroup::packedCount(p_, subgroupSize_);
    case Variant::Winograd:
      return conv2d_winograd::packedCount(p_, subgroupSize_);
    case Variant::Pointwise:
      return conv2d_pointwise::packedCount(p_, subgroupSize_);
    default:
      return std::size_t(p_.outChannels) * p_.inChannels * p_.kernel * p_.kernel +
             (p_.bias ? p_.outChannels : 0);
  }
}

std::vector<float> Conv2d::packWeights(std::span<const float> oihw, std::span<const float> bias) const {
  const std::size_t want = std::size_t(p_.outChannels) * p_.inChannels * p_.kernel * p_.kernel;
  require(oihw.size() == want, kOp,
          "weights hold " + std::to_string(oihw.size()) + " values, [out][in][k][k] needs " +
              std::to_string(want));
  require(bias.size() == (p_.bias ? p_.outChannels : 0u), kOp,
          "bias holds " + std::to_string(bias.size()) + " values, the layer needs " +
              std::to_string(p_.bias ? p_.outChannels : 0u));
  switch (variant_) {
    case Variant::Subgroup:
      return conv2d_subgroup::pack(p_, subgroupSize_, oihw, bias);
    case Variant::Winograd:
      return conv2d_winograd::pack(p_, subgroupSize_, oihw, bias);
    case Variant::Pointwise:
      return conv2d_pointwise::pack(p_, subgroupSize_, oihw, bias);
    default: {
      std::vector<float> packed(oihw.begin(), oihw.end());
      packed.insert(packed.end(), bias.begin(), bias.end());
      return packed;
    }
  }
}

std::size_t Conv2d::scratchBytes(Shape4 in) const {
  if (variant_ != Variant::Winograd) return 0;
  return conv2d_winograd::scratchBytes(p_, subgroupSize_, in, offsetAlignment_, storageRange_);
}

void Conv2d::validate(const Conv2dIO& io) const {
  const Shape4 in = io.in.shape;
  const uint32_t c1 = p_.inChannels - p_.in2Channels;
  require(in.c == c1, kOp,
          "input " + in.str() + " has " + std::to_string(in.c) + " channels, the layer reads " +
              std::to_string(c1) + " from its first input");
  require((io.in2 != nullptr) == (p_.in2Channels > 0), kOp,
          p_.in2Channels ? "the layer reads a second input but none was given"
                         : "a second input was given but the layer has in2Channels = 0");
  if (io.in2) {
    const Shape4 s = io.in2->shape;
    require(s.n == in.n && s.h == in.h && s.w == in.w && s.c == p_.in2Channels, kOp,
            "second input " + s.str() + " does not match the first " + in.str() + " with " +
                std::to_string(p_.in2Channels) + " channels");
    require(io.in2->dtype == dtype_, kOp, "second input has another storage type");
    requireFits(*io.in2, kOp, "second input");
  }
  require(in.h > 0 && in.w > 0 && in.n > 0, kOp, "empty input " + in.str());
  const Shape4 out = outputShape(in);
  require(out.h > 0 && out.w > 0, kOp, "input " + in.str() + " is smaller than the kernel");
  require(io.out.shape == out, kOp,
          "output " + io.out.shape.str() + " should be " + out.str() + " for input " + in.str());
  require(io.in.dtype == dtype_ && io.out.dtype == dtype_ && io.weights.dtype == dtype_, kOp,
          std::string("tensors must use the layer's storage type ") + dtypeName(dtype_));
  require(io.weights.shape.count() == packedWeightCount(), kOp,
          "weights tensor holds " + std::to_string(io.weights.shape.count()) + " values, the " +
              variantName(variant_) + " variant packs " + std::to_string(packedWeightCount()));
  if (io.residual) {
    require(io.residual->shape == out, kOp,
            "residual " + io.residual->shape.str() + " should be " + out.str());
    require(io.residual->dtype == dtype_, kOp, "residual has another storage type");
    requireFits(*io.residual, kOp, "residual");
  }
  if (io.inputNorm) {
    require(foldsInputNorm(), kOp,
            std::string("the ") + variantName(variant_) + " variant cannot normalise its input on its loads");
    const Shape4 want{in.n, p_.inChannels, 1, 4};
    require(io.inputNorm->shape == want && io.inputNorm->dtype == DType::F32, kOp,
            "input normalisation " + io.inputNorm->shape.str() + " must be fp32 " + want.str());
    requireFits(*io.inputNorm, kOp, "input normalisation");
  }
  requireFits(io.in, kOp, "input");
  requireFits(io.out, kOp, "output");
  requireFits(io.weights, kOp, "weights");
  const std::size_t scratch = scratchBytes(in);
  if (scratch) {
    require(io.scratch != nullptr, kOp,
            "the " + std::string(variantName(variant_)) + " variant needs " + std::to_string(scratch) +
                " bytes of scratch");
    require(io.scratch->ref.buffer != VK_NULL_HANDLE && io.scratch->ref.size >= scratch, kOp,
            "scratch of " + std::to_string(io.scratch->ref.size) + " bytes, the variant needs " +
                std::to_string(scratch));
  }
  require(in.n * p_.outChannels <= 65535u, kOp, "batch x output channels exceeds 65535");
}

void Conv2d::record(Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) const {
  validate(io);
  switch (variant_) {
    case Variant::Subgroup:
      conv2d_subgroup::record(*this, prog, kernels, io);
      break;
    case Variant::Winograd:
      conv2d_winograd::record(*this, prog, kernels, io, offsetAlignment_, storageRange_);
      break;
    case Variant::Pointwise:
      conv2d_pointwise::record(*this, prog, kernels, io);
      break;
    case Variant::Tiled:
      recordTiled(prog, kernels, io);
      break;
    default:
      recordDirect(prog, kernels, io);
      break;
  }
}

void Conv2d::recordDirect(Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) const {
  struct Push {
    uint32_t c1, c2, h, w, ho, wo, cout;
    float outputScale;
    uint32_t padBefore;
  };
  const Shape4 in = io.in.shape, out = io.out.shape;
  constexpr uint32_t kLocal = 8;
  const uint32_t spec[] = {
      kLocal, kLocal, p_.kernel, p_.stride, paddingFor(io) == Padding::Circular, p_.bias, io.residual != nullptr};
  const vk::Kernel& k = kernels.get("conv2d_direct", dtype_ == DType::F16, spec);
  const Push push{in.c, p_.in2Channels, in.h, in.w, out.h, out.w, out.c, io.outputScale, p_.padBefore()};
  const BufferRef in2 = io.in2 ? io.in2->ref : io.in.ref;
  const BufferRef res = io.residual ? io.residual->ref : io.in.ref;
  prog.add(k, {io.in.ref, in2, io.weights.ref, res, io.out.ref}, push, divUp(out.w, kLocal),
           divUp(out.h, kLocal), in.n * out.c, flops(in));
}

void Conv2d::recordTiled(Program& prog, vk::KernelCache& kernels, const Conv2dIO& io) const {
  struct Push {
    uint32_t c1, c2, h, w, ho, wo, cout, coBlocks, hasBias, hasResidual;
    float outputScale;
    uint32_t padBefore;
  };
  const Shape4 in = io.in.shape, out = io.out.shape;
  const uint32_t spec[] = {p_.kernel, p_.stride, paddingFor(io) == Padding::Circular};
  const vk::Kernel& k = kernels.get("conv2d_tiled", dtype_ == DType::F16, spec);
  const uint32_t blocks = divUp(out.c, 64);
  require(in.n * blocks <= kernels.gpu().facts.maxWorkgroupCount[2], kOp, "batch x channel blocks too large");
  const Push push{in.c,    p_.in2Channels,         in.h,          in.w, out.h, out.w, out.c, blocks,
                  p_.bias, io.residual != nullptr, io.outputScale, p_.padBefore()};
  const BufferRef in2 = io.in2 ? io.in2->ref : io.in.ref;
  const BufferRef res = io.residual ? io.residual->ref : io.in.ref;
  prog.add(k, {io.in.ref, in2, io.weights.ref, res, io.out.ref}, push, divUp(out.w, 8), divUp(out.h, 8),
           in.n * blocks, flops(in));
}

}  // namespace tessera::ops
