#pragma once
// The sampler's state tensors and the checks every sampler op makes on them.
#include <string>

#include "ops/op_common.hpp"
#include "sampler/sampler_params.hpp"

namespace tessera::sampler {

// fp32 whatever the network's storage type, all [n, C, H, W]: the state is carried across every
// stage, so it keeps full precision even where the network runs in fp16.
struct SamplerState {
  Tensor x;  // the sampler's state
  Tensor e;  // the point the network evaluates (== x except inside a Heun step)
  Tensor d;  // the denoised image of the last evaluation
  Tensor p;  // the previous denoised image (DPM++ 2M, Heun)
};

namespace detail {

// Keeps element indices (and the guided rows' offset of n*C*H*W) inside 32 bits in the shaders.
constexpr uint64_t kMaxStateElements = uint64_t(1) << 31;

inline void checkFp32(const Tensor& t, const char* op, const char* name, const Shape4& shape) {
  ops::require(t.shape == shape, op,
               std::string(name) + " is " + t.shape.str() + ", expected " + shape.str());
  ops::require(t.dtype == DType::F32, op, std::string(name) + " must be fp32 (sampler state)");
  ops::requireFits(t, op, name);
}

inline void checkState(const SamplerState& s, const char* op) {
  const Shape4& shape = s.x.shape;
  ops::require(shape.count() > 0 && shape.count() < kMaxStateElements, op,
               "state " + shape.str() + " must hold 1 to 2^31 - 1 elements");
  ops::require(shape.n <= kMaxItems, op,
               "batch of " + std::to_string(shape.n) + " images, above " + std::to_string(kMaxItems));
  checkFp32(s.x, op, "X", shape);
  checkFp32(s.e, op, "E", shape);
  checkFp32(s.d, op, "D", shape);
  checkFp32(s.p, op, "P", shape);
}

inline void checkParams(const BufferRef& params, uint32_t items, const char* op) {
  ops::require(params.buffer != VK_NULL_HANDLE && params.size >= paramsBytes(items), op,
               "params range of " + std::to_string(params.size) + " bytes is smaller than the " +
                   std::to_string(paramsBytes(items)) + " a batch of " + std::to_string(items) + " needs");
}

}  // namespace detail
}  // namespace tessera::sampler
