#pragma once
// Compute pipelines built from the embedded SPIR-V. The descriptor-set layout, push-constant
// range and workgroup size come from SPIR-V reflection (SPIRV-Cross), never from a hand-kept table.
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "vk/gpu.hpp"

namespace tessera::vk {

struct Kernel {
  std::string name;
  bool fp16 = false;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout setLayout = VK_NULL_HANDLE;
  uint32_t bindingCount = 0;       // storage buffers at set 0, bindings 0..bindingCount-1
  uint32_t pushConstantSize = 0;   // bytes, 0 when the shader has none
  uint32_t localSize[3] = {1, 1, 1};
};

// What reflection reads from one SPIR-V module; exposed for tests.
struct Reflection {
  uint32_t bindingCount = 0;
  uint32_t pushConstantSize = 0;
  uint32_t localSize[3] = {1, 1, 1};
  uint32_t localSizeSpecId[3] = {~0u, ~0u, ~0u};  // ~0u when the size is a literal
  std::vector<uint32_t> specConstantIds;
};
Reflection reflect(std::span<const uint32_t> words, const std::string& name);

// Owns every pipeline it made; one per (shader, precision, specialization values).
class KernelCache {
 public:
  explicit KernelCache(const Gpu& gpu);
  ~KernelCache();
  KernelCache(const KernelCache&) = delete;
  KernelCache& operator=(const KernelCache&) = delete;

  // `spec[i]` is the value of specialization constant id i. Throws when the shader does not
  // exist, the fp16 variant is asked for on a device without 16-bit storage, or a given
  // constant id is not declared by the shader.
  const Kernel& get(const std::string& name, bool fp16, std::span<const uint32_t> spec = {});
  const Gpu& gpu() const { return gpu_; }
  std::size_t size() const { return kernels_.size(); }

 private:
  const Gpu& gpu_;
  std::map<std::string, std::unique_ptr<Kernel>> kernels_;
};

}  // namespace tessera::vk
