#include "ops/gaussian_noise.hpp"

#include <cmath>

#include "ops/op_common.hpp"

namespace tessera::ops {

namespace {

struct NoisePush {
  uint32_t count;
  uint32_t lead;
  uint32_t blocks;
  uint32_t block0Lo;
  uint32_t block0Hi;
  uint32_t keyLo;
  uint32_t keyHi;
  uint32_t stream;
  float scale;
};

constexpr uint32_t kLocal = 64;
// Keeps 4 * block + lane inside 32 bits in the shader.
constexpr uint64_t kMaxElements = uint64_t(1) << 31;

}  // namespace

void gaussianNoise(Program& prog, vk::KernelCache& kernels, const Tensor& out, uint64_t seed, uint32_t stream,
                   uint64_t firstIndex, float scale) {
  const char* op = "gaussian_noise";
  const uint64_t count = out.shape.count();
  require(count > 0 && count <= kMaxElements, op,
          "out has " + std::to_string(count) + " elements; 1 to 2^31 can be written per dispatch");
  require(firstIndex <= UINT64_MAX - count, op, "firstIndex + element count passes 2^64");
  require(std::isfinite(scale), op, "scale must be finite");
  requireFits(out, op, "out");

  const uint32_t lead = static_cast<uint32_t>(firstIndex & 3);
  const uint64_t block0 = firstIndex >> 2;
  const uint32_t blocks = static_cast<uint32_t>((lead + count + 3) / 4);
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get("gaussian_noise", out.dtype == DType::F16, spec);
  NoisePush push{static_cast<uint32_t>(count),
                 lead,
                 blocks,
                 static_cast<uint32_t>(block0),
                 static_cast<uint32_t>(block0 >> 32),
                 static_cast<uint32_t>(seed),
                 static_cast<uint32_t>(seed >> 32),
                 stream,
                 scale};
  // About 40 integer operations per Philox round and 60 flops of Box-Muller per pair.
  prog.add(k, {out.ref}, push, strideGroups(kernels.gpu(), blocks, kLocal), 1, 1, 250.0 * blocks);
}

void philoxWords(Program& prog, vk::KernelCache& kernels, const BufferRef& items, const BufferRef& words,
                 uint32_t count) {
  const char* op = "philox_words";
  require(count > 0, op, "no items");
  require(items.size >= uint64_t(count) * 32, op,
          "items range holds fewer than " + std::to_string(count) + " items");
  require(words.size >= uint64_t(count) * 16, op,
          "words range holds fewer than " + std::to_string(count) + " results");
  const uint32_t spec[] = {kLocal};
  const vk::Kernel& k = kernels.get("gaussian_noise_philox", false, spec);
  const uint32_t push = count;
  prog.add(k, {items, words}, push, strideGroups(kernels.gpu(), count, kLocal));
}

}  // namespace tessera::ops
