#include "sampler/sampler_prepare.hpp"

namespace tessera::sampler {

namespace {

struct Push {
  uint32_t items;
  uint32_t rows;
  uint32_t perItem;
  uint32_t classes;
  uint32_t netPerItem;
};

constexpr uint32_t kLocal = 256;

}  // namespace

void samplerPrepare(Program& prog, vk::KernelCache& kernels, const BufferRef& params, const Tensor& e,
                    const Tensor& netIn, const Tensor& timesteps, const Tensor* classes) {
  const char* op = "sampler_prepare";
  const Shape4& s = e.shape;
  ops::require(s.count() > 0 && s.count() < detail::kMaxStateElements, op,
               "E " + s.str() + " must hold 1 to 2^31 - 1 elements");
  ops::require(s.n <= kMaxItems, op,
               "batch of " + std::to_string(s.n) + " images, above " + std::to_string(kMaxItems));
  detail::checkFp32(e, op, "E", s);
  detail::checkParams(params, s.n, op);
  const uint32_t rows = netIn.shape.n;
  ops::require(rows == s.n || rows == 2 * s.n, op,
               "netIn has " + std::to_string(rows) + " rows; a batch of " + std::to_string(s.n) + " needs " +
                   std::to_string(s.n) + ", or " + std::to_string(2 * s.n) + " with guidance");
  ops::require(netIn.shape.c >= s.c && netIn.shape.h == s.h && netIn.shape.w == s.w, op,
               "netIn " + netIn.shape.str() + " does not match the state " + s.str());
  ops::requireFits(netIn, op, "netIn");
  ops::require(timesteps.dtype == DType::F32, op, "timesteps must be fp32");
  ops::require(timesteps.shape.count() == rows, op,
               std::to_string(timesteps.shape.count()) + " timesteps for " + std::to_string(rows) + " rows");
  ops::requireFits(timesteps, op, "timesteps");
  uint32_t k = 0;
  if (classes) {
    const Shape4& cs = classes->shape;
    ops::require(cs.n == rows && cs.c > 0 && cs.h == 1 && cs.w == 1, op,
                 "classes must be [" + std::to_string(rows) + ", K, 1, 1], got " + cs.str());
    ops::require(classes->dtype == netIn.dtype, op, "classes must share netIn's storage type");
    ops::requireFits(*classes, op, "classes");
    k = cs.c;
  }

  const uint32_t perItem = s.c * s.h * s.w;
  const uint32_t spec[] = {kLocal};
  const bool fp16 = netIn.dtype == DType::F16;
  const vk::Kernel& kernel = kernels.get(classes ? "sampler_prepare_classes" : "sampler_prepare", fp16, spec);
  const Push push{s.n, rows, perItem, k, netIn.shape.c * s.h * s.w};
  const std::size_t work = std::max<std::size_t>(std::size_t(rows) * perItem, std::size_t(rows) * k);
  const uint32_t groups = ops::strideGroups(kernels.gpu(), work, kLocal);
  if (classes)
    prog.add(kernel, {params, e.ref, netIn.ref, timesteps.ref, classes->ref}, push, groups, 1, 1,
             double(rows) * perItem);
  else
    prog.add(kernel, {params, e.ref, netIn.ref, timesteps.ref}, push, groups, 1, 1, double(rows) * perItem);
}

}  // namespace tessera::sampler
