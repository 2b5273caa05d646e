#include "ops/timestep_embedding.hpp"

#include <cmath>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

struct Push {
  uint32_t count;
  uint32_t dim;
  uint32_t halfDim;
  uint32_t flipSinToCos;
  float negLogMaxPeriod;
  float denominator;
  float scale;
};

}  // namespace

void timestepEmbedding(Program& prog, vk::KernelCache& kernels, const Tensor& timesteps, const Tensor& out,
                       const TimestepEmbeddingParams& params) {
  const char* op = "timestep_embedding";
  const Shape4& s = out.shape;
  require(timesteps.dtype == DType::F32, op,
          "timesteps must be fp32 (they are exact step values, not storage)");
  require(s.h == 1 && s.w == 1, op, "out must be [N, dim, 1, 1], got " + s.str());
  require(timesteps.shape.count() == s.n, op,
          std::to_string(timesteps.shape.count()) + " timesteps for an output of " + std::to_string(s.n) +
              " rows");
  require(std::isfinite(params.maxPeriod) && params.maxPeriod > 0.0f, op, "max_period must be positive");
  require(std::isfinite(params.scale) && std::isfinite(params.downscaleFreqShift), op,
          "scale and downscale_freq_shift must be finite");
  const uint32_t dim = s.c;
  const uint32_t half = dim / 2;
  // diffusers divides by (half - shift) in PyTorch's fp32 arithmetic; the scalar itself is formed
  // in double first, as Python does.
  const double denominator = double(half) - double(params.downscaleFreqShift);
  require(
      half == 0 || denominator != 0.0, op,
      "half of dim (" + std::to_string(half) + ") equals downscale_freq_shift: the frequencies divide by 0");
  requireFits(timesteps, op, "timesteps");
  requireFits(out, op, "out");

  constexpr uint32_t kLocal = 64;
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get("timestep_embedding", out.dtype == DType::F16, spec);
  Push push{static_cast<uint32_t>(s.count()),
            dim,
            half,
            params.flipSinToCos ? 1u : 0u,
            static_cast<float>(-std::log(double(params.maxPeriod))),
            static_cast<float>(denominator),
            params.scale};
  prog.add(k, {timesteps.ref, out.ref}, push, strideGroups(kernels.gpu(), s.count(), kLocal), 1, 1,
           30.0 * s.count());
}

}  // namespace tessera::ops
