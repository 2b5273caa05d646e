#include "sampler/sampler_update.hpp"

namespace tessera::sampler {

namespace {

struct Push {
  uint32_t items;
  uint32_t perItem;
  uint32_t plane;
  uint32_t blocksPerItem;
  uint32_t guided;
  uint32_t netPerItem;
};

// Each invocation may run two Philox blocks (z and the inpainting noise).
constexpr uint32_t kLocal = 64;

}  // namespace

void samplerUpdate(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const Tensor& netOut,
                   const SamplerState& state, const Tensor* init, const Tensor* mask) {
  const char* op = "sampler_update";
  detail::checkState(state, op);
  const Shape4& s = state.x.shape;
  detail::checkParams(params, s.n, op);
  const uint32_t rows = netOut.shape.n;
  ops::require(rows == s.n || rows == 2 * s.n, op,
               "netOut has " + std::to_string(rows) + " rows; a batch of " + std::to_string(s.n) + " needs " +
                   std::to_string(s.n) + ", or " + std::to_string(2 * s.n) + " with guidance");
  ops::require((netOut.shape.c == s.c || netOut.shape.c == 2 * s.c) && netOut.shape.h == s.h &&
                   netOut.shape.w == s.w,
               op, "netOut " + netOut.shape.str() + " does not match the state " + s.str() +
                       " (its channels, or twice as many with a variance half)");
  ops::requireFits(netOut, op, "netOut");
  ops::require((init == nullptr) == (mask == nullptr), op, "init and mask are bound together or not at all");
  if (init) {
    detail::checkFp32(*init, op, "Init", s);
    detail::checkFp32(*mask, op, "Mask", Shape4{s.n, 1, s.h, s.w});
  }

  const uint32_t perItem = s.c * s.h * s.w;
  const uint32_t blocksPerItem = divUp(perItem, 4);
  const uint32_t spec[] = {kLocal};
  const bool fp16 = netOut.dtype == DType::F16;
  const vk::Kernel& k = kernels.get(init ? "sampler_update_inpaint" : "sampler_update", fp16, spec);
  const Push push{s.n, perItem, s.h * s.w, blocksPerItem, rows == 2 * s.n ? 1u : 0u,
                  netOut.shape.c * s.h * s.w};
  const uint32_t groups = ops::strideGroups(kernels.gpu(), std::size_t(s.n) * blocksPerItem, kLocal);
  // The linear update is ~25 flops per element; noise adds ~250 per block of four when drawn.
  const double flops = 25.0 * s.count();
  if (init)
    prog.add(k,
             {params, netOut.ref, state.x.ref, state.e.ref, state.d.ref, state.p.ref, init->ref, mask->ref},
             push, groups, 1, 1, flops);
  else
    prog.add(k, {params, netOut.ref, state.x.ref, state.e.ref, state.d.ref, state.p.ref}, push, groups, 1, 1,
             flops);
}

}  // namespace tessera::sampler
