#include "vk/kernel.hpp"

#include <spirv_cross/spirv_cross_c.h>

#include <algorithm>
#include <cstring>

#include "embedded_shaders.hpp"
#include "error.hpp"

namespace tessera::vk {

namespace {

struct SpvcContext {
  spvc_context ctx = nullptr;
  SpvcContext() { spvc_context_create(&ctx); }
  ~SpvcContext() { spvc_context_destroy(ctx); }
};

[[noreturn]] void reflectFail(const std::string& name, const std::string& what) {
  fail(ErrorCode::Unsupported, "shader '" + name + "': " + what);
}

}  // namespace

Reflection reflect(std::span<const uint32_t> words, const std::string& name) {
  SpvcContext c;
  spvc_parsed_ir ir = nullptr;
  spvc_compiler comp = nullptr;
  if (spvc_context_parse_spirv(c.ctx, words.data(), words.size(), &ir) != SPVC_SUCCESS ||
      spvc_context_create_compiler(c.ctx, SPVC_BACKEND_NONE, ir, SPVC_CAPTURE_MODE_TAKE_OWNERSHIP,
                                   &comp) != SPVC_SUCCESS)
    reflectFail(name, std::string("SPIR-V reflection failed: ") + spvc_context_get_last_error_string(c.ctx));

  spvc_resources res = nullptr;
  spvc_compiler_create_shader_resources(comp, &res);
  Reflection r;

  const spvc_reflected_resource* list = nullptr;
  size_t count = 0;
  spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_STORAGE_BUFFER, &list, &count);
  std::vector<uint32_t> bindings;
  for (size_t i = 0; i < count; ++i) {
    if (spvc_compiler_get_decoration(comp, list[i].id, SpvDecorationDescriptorSet) != 0)
      reflectFail(name, "only descriptor set 0 is used by tessera kernels");
    bindings.push_back(spvc_compiler_get_decoration(comp, list[i].id, SpvDecorationBinding));
  }
  std::sort(bindings.begin(), bindings.end());
  for (size_t i = 0; i < bindings.size(); ++i)
    if (bindings[i] != i) reflectFail(name, "storage-buffer bindings must be 0..n-1 without gaps");
  r.bindingCount = static_cast<uint32_t>(bindings.size());

  for (auto type : {SPVC_RESOURCE_TYPE_UNIFORM_BUFFER, SPVC_RESOURCE_TYPE_SAMPLED_IMAGE,
                    SPVC_RESOURCE_TYPE_STORAGE_IMAGE, SPVC_RESOURCE_TYPE_SEPARATE_IMAGE}) {
    spvc_resources_get_resource_list_for_type(res, type, &list, &count);
    if (count) reflectFail(name, "kernels bind storage buffers only");
  }

  spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_PUSH_CONSTANT, &list, &count);
  if (count > 1) reflectFail(name, "more than one push-constant block");
  if (count == 1) {
    size_t size = 0;
    spvc_compiler_get_declared_struct_size(comp, spvc_compiler_get_type_handle(comp, list[0].type_id),
                                           &size);
    r.pushConstantSize = static_cast<uint32_t>(size);
  }

  const spvc_specialization_constant* consts = nullptr;
  spvc_compiler_get_specialization_constants(comp, &consts, &count);
  for (size_t i = 0; i < count; ++i) r.specConstantIds.push_back(consts[i].constant_id);

  spvc_specialization_constant wg[3];
  spvc_compiler_get_work_group_size_specialization_constants(comp, &wg[0], &wg[1], &wg[2]);
  for (int d = 0; d < 3; ++d) {
    r.localSize[d] = spvc_compiler_get_execution_mode_argument_by_index(comp, SpvExecutionModeLocalSize, d);
    if (wg[d].id != 0) {
      r.localSizeSpecId[d] = wg[d].constant_id;
      spvc_constant k = spvc_compiler_get_constant_handle(comp, wg[d].id);
      r.localSize[d] = spvc_constant_get_scalar_u32(k, 0, 0);
    }
  }
  return r;
}

KernelCache::KernelCache(const Gpu& gpu) : gpu_(gpu) {}

KernelCache::~KernelCache() {
  const Functions& fn = gpu_.fn;
  for (auto& [key, k] : kernels_) {
    fn.vkDestroyPipeline(gpu_.device, k->pipeline, nullptr);
    fn.vkDestroyPipelineLayout(gpu_.device, k->layout, nullptr);
    fn.vkDestroyDescriptorSetLayout(gpu_.device, k->setLayout, nullptr);
  }
}

const Kernel& KernelCache::get(const std::string& name, bool fp16, std::span<const uint32_t> spec) {
  std::string key = name + (fp16 ? ":f16" : ":f32");
  for (uint32_t v : spec) key += ":" + std::to_string(v);
  if (auto it = kernels_.find(key); it != kernels_.end()) return *it->second;

  const shaders::Spirv* spv = shaders::find(name, fp16);
  if (!spv) fail(ErrorCode::Unsupported, "no embedded shader named '" + name + "'");
  if (fp16 && !gpu_.facts.storage16)
    fail(ErrorCode::DeviceFeatureMissing,
         "shader '" + name + "' in fp16 storage needs storageBuffer16BitAccess, not enabled on this device");
  std::vector<uint32_t> words(spv->size / 4);
  std::memcpy(words.data(), spv->bytes, spv->size);
  Reflection r = reflect(words, name);

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t id = 0; id < spec.size(); ++id) {
    if (std::find(r.specConstantIds.begin(), r.specConstantIds.end(), id) == r.specConstantIds.end())
      fail(ErrorCode::InvalidArgument,
           "shader '" + name + "' declares no specialization constant " + std::to_string(id));
    entries.push_back({id, id * 4u, 4});
  }
  auto k = std::make_unique<Kernel>();
  k->name = name;
  k->fp16 = fp16;
  k->bindingCount = r.bindingCount;
  k->pushConstantSize = r.pushConstantSize;
  for (int d = 0; d < 3; ++d)
    k->localSize[d] = r.localSizeSpecId[d] < spec.size() ? spec[r.localSizeSpecId[d]] : r.localSize[d];
  if (k->pushConstantSize > gpu_.facts.maxPushConstantsSize)
    fail(ErrorCode::DeviceFeatureMissing, "shader '" + name + "' needs " +
                                              std::to_string(k->pushConstantSize) +
                                              " bytes of push constants, more than the device has");

  const Functions& fn = gpu_.fn;
  std::vector<VkDescriptorSetLayoutBinding> b(k->bindingCount);
  for (uint32_t i = 0; i < k->bindingCount; ++i)
    b[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dsl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dsl.bindingCount = k->bindingCount;
  dsl.pBindings = b.data();
  TESSERA_VK_CHECK(fn.vkCreateDescriptorSetLayout(gpu_.device, &dsl, nullptr, &k->setLayout));

  VkPushConstantRange pcr{VK_SHADER_STAGE_COMPUTE_BIT, 0, k->pushConstantSize};
  VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  pl.setLayoutCount = 1;
  pl.pSetLayouts = &k->setLayout;
  pl.pushConstantRangeCount = k->pushConstantSize ? 1 : 0;
  pl.pPushConstantRanges = &pcr;
  TESSERA_VK_CHECK(fn.vkCreatePipelineLayout(gpu_.device, &pl, nullptr, &k->layout));

  VkShaderModuleCreateInfo sm{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  sm.codeSize = spv->size;
  sm.pCode = words.data();
  VkShaderModule module = VK_NULL_HANDLE;
  TESSERA_VK_CHECK(fn.vkCreateShaderModule(gpu_.device, &sm, nullptr, &module));

  VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(), spec.size_bytes(),
                          spec.data()};
  VkComputePipelineCreateInfo cp{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  cp.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
  cp.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  cp.stage.module = module;
  cp.stage.pName = "main";
  cp.stage.pSpecializationInfo = entries.empty() ? nullptr : &si;
  cp.layout = k->layout;
  VkResult res = fn.vkCreateComputePipelines(gpu_.device, VK_NULL_HANDLE, 1, &cp, nullptr, &k->pipeline);
  fn.vkDestroyShaderModule(gpu_.device, module, nullptr);
  if (res != VK_SUCCESS) {
    fn.vkDestroyPipelineLayout(gpu_.device, k->layout, nullptr);
    fn.vkDestroyDescriptorSetLayout(gpu_.device, k->setLayout, nullptr);
    TESSERA_VK_CHECK(res);
  }
  return *kernels_.emplace(key, std::move(k)).first->second;
}

}  // namespace tessera::vk
