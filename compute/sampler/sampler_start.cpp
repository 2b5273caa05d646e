#include "sampler/sampler_start.hpp"

namespace tessera::sampler {

namespace {

struct Push {
  uint32_t items;
  uint32_t perItem;
  uint32_t blocksPerItem;
};

// As gaussian_noise: each invocation runs a Philox block, which dominates its cost.
constexpr uint32_t kLocal = 64;

}  // namespace

void samplerStart(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const SamplerState& state,
                  const Tensor* init) {
  const char* op = "sampler_start";
  detail::checkState(state, op);
  const Shape4& s = state.x.shape;
  detail::checkParams(params, s.n, op);
  if (init) detail::checkFp32(*init, op, "Init", s);

  const uint32_t perItem = s.c * s.h * s.w;
  const uint32_t blocksPerItem = divUp(perItem, 4);
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get(init ? "sampler_start_init" : "sampler_start", false, spec);
  const Push push{s.n, perItem, blocksPerItem};
  const uint32_t groups = ops::strideGroups(kernels.gpu(), std::size_t(s.n) * blocksPerItem, kLocal);
  const double flops = 250.0 * s.n * blocksPerItem + 3.0 * s.count();
  if (init)
    prog.add(k, {params, init->ref, state.x.ref, state.e.ref, state.d.ref, state.p.ref}, push, groups, 1, 1,
             flops);
  else
    prog.add(k, {params, state.x.ref, state.e.ref, state.d.ref, state.p.ref}, push, groups, 1, 1, flops);
}

}  // namespace tessera::sampler
