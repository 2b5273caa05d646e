#include "plane_renderer.hpp"

#include <cmath>

namespace tessera::viewer {
namespace {

#include "plane_frag.inc"
#include "plane_vert.inc"

VkShaderModule shaderModule(VkDevice device, const unsigned char* code, std::size_t size) {
  VkShaderModuleCreateInfo smci{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  smci.codeSize = size;
  smci.pCode = reinterpret_cast<const uint32_t*>(code);
  VkShaderModule m = VK_NULL_HANDLE;
  vkCheck(vkCreateShaderModule(device, &smci, nullptr, &m), "vkCreateShaderModule (plane)");
  return m;
}

float srgbEncode(float c) {
  return c <= 0.0031308f ? c * 12.92f : 1.055f * std::pow(c, 1.0f / 2.4f) - 0.055f;
}

// A dark slate, in linear colour.
constexpr float kBackground[3] = {0.018f, 0.022f, 0.032f};

}  // namespace

PlaneRenderer::PlaneRenderer(const Device& device, const RenderTarget& target,
                             const std::array<VkImageView, 2>& textures)
    : device_(device) {
  const VkDevice dev = device_.get();
  VkSamplerCreateInfo sci{VK_STRUCTURE_TYPE_SAMPLER_CREATE_INFO};
  sci.magFilter = sci.minFilter = VK_FILTER_LINEAR;
  sci.mipmapMode = VK_SAMPLER_MIPMAP_MODE_LINEAR;
  // REPEAT is the point of the viewer: a seam in a tileable texture shows at every tile edge.
  sci.addressModeU = sci.addressModeV = sci.addressModeW = VK_SAMPLER_ADDRESS_MODE_REPEAT;
  sci.maxLod = VK_LOD_CLAMP_NONE;
  vkCheck(vkCreateSampler(dev, &sci, nullptr, &sampler_), "vkCreateSampler");

  VkDescriptorSetLayoutBinding binding{0, VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 1,
                                       VK_SHADER_STAGE_FRAGMENT_BIT, nullptr};
  VkDescriptorSetLayoutCreateInfo dslci{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  dslci.bindingCount = 1;
  dslci.pBindings = &binding;
  vkCheck(vkCreateDescriptorSetLayout(dev, &dslci, nullptr, &setLayout_), "vkCreateDescriptorSetLayout");
  VkDescriptorPoolSize poolSize{VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER, 2};
  VkDescriptorPoolCreateInfo dpci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
  dpci.maxSets = 2;
  dpci.poolSizeCount = 1;
  dpci.pPoolSizes = &poolSize;
  vkCheck(vkCreateDescriptorPool(dev, &dpci, nullptr, &pool_), "vkCreateDescriptorPool");
  const std::array<VkDescriptorSetLayout, 2> layouts{setLayout_, setLayout_};
  VkDescriptorSetAllocateInfo dsai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  dsai.descriptorPool = pool_;
  dsai.descriptorSetCount = 2;
  dsai.pSetLayouts = layouts.data();
  vkCheck(vkAllocateDescriptorSets(dev, &dsai, sets_.data()), "vkAllocateDescriptorSets");
  for (std::size_t i = 0; i < 2; ++i) {
    VkDescriptorImageInfo info{sampler_, textures[i], VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL};
    VkWriteDescriptorSet w{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = sets_[i];
    w.descriptorCount = 1;
    w.descriptorType = VK_DESCRIPTOR_TYPE_COMBINED_IMAGE_SAMPLER;
    w.pImageInfo = &info;
    vkUpdateDescriptorSets(dev, 1, &w, 0, nullptr);
  }

  VkPushConstantRange range{VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0, sizeof(PlanePush)};
  VkPipelineLayoutCreateInfo plci{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  plci.setLayoutCount = 1;
  plci.pSetLayouts = &setLayout_;
  plci.pushConstantRangeCount = 1;
  plci.pPushConstantRanges = &range;
  vkCheck(vkCreatePipelineLayout(dev, &plci, nullptr, &layout_), "vkCreatePipelineLayout");

  createFormatDependent(target);
  createFramebuffers(target);
}

PlaneRenderer::~PlaneRenderer() {
  const VkDevice dev = device_.get();
  destroyFramebuffers();
  destroyFormatDependent();
  vkDestroyPipelineLayout(dev, layout_, nullptr);
  vkDestroyDescriptorPool(dev, pool_, nullptr);
  vkDestroyDescriptorSetLayout(dev, setLayout_, nullptr);
  vkDestroySampler(dev, sampler_, nullptr);
}

void PlaneRenderer::createFormatDependent(const RenderTarget& target) {
  const VkDevice dev = device_.get();
  format_ = target.format();
  finishedLayout_ = target.finishedLayout();
  const bool encode = !isSrgbFormat(format_);
  for (int c = 0; c < 3; ++c) background_.float32[c] = encode ? srgbEncode(kBackground[c]) : kBackground[c];
  background_.float32[3] = 1.0f;

  VkAttachmentDescription colour{};
  colour.format = format_;
  colour.samples = VK_SAMPLE_COUNT_1_BIT;
  colour.loadOp = VK_ATTACHMENT_LOAD_OP_CLEAR;
  colour.storeOp = VK_ATTACHMENT_STORE_OP_STORE;
  colour.stencilLoadOp = VK_ATTACHMENT_LOAD_OP_DONT_CARE;
  colour.stencilStoreOp = VK_ATTACHMENT_STORE_OP_DONT_CARE;
  colour.initialLayout = VK_IMAGE_LAYOUT_UNDEFINED;
  colour.finalLayout = finishedLayout_;
  VkAttachmentReference ref{0, VK_IMAGE_LAYOUT_COLOR_ATTACHMENT_OPTIMAL};
  VkSubpassDescription subpass{};
  subpass.pipelineBindPoint = VK_PIPELINE_BIND_POINT_GRAPHICS;
  subpass.colorAttachmentCount = 1;
  subpass.pColorAttachments = &ref;
  // Before drawing: the swapchain's acquire semaphore is waited at COLOR_ATTACHMENT_OUTPUT, and an
  // earlier frame may still be writing (offscreen: the same image) or copying it out (screenshots).
  VkSubpassDependency dep{};
  dep.srcSubpass = VK_SUBPASS_EXTERNAL;
  dep.dstSubpass = 0;
  dep.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
  dep.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  dep.dstStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  dep.dstAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  // After drawing: a screenshot copies the image out (the final layout transition must come first).
  VkSubpassDependency out{};
  out.srcSubpass = 0;
  out.dstSubpass = VK_SUBPASS_EXTERNAL;
  out.srcStageMask = VK_PIPELINE_STAGE_COLOR_ATTACHMENT_OUTPUT_BIT;
  out.srcAccessMask = VK_ACCESS_COLOR_ATTACHMENT_WRITE_BIT;
  out.dstStageMask = VK_PIPELINE_STAGE_TRANSFER_BIT;
  out.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
  const VkSubpassDependency deps[] = {dep, out};
  VkRenderPassCreateInfo rpci{VK_STRUCTURE_TYPE_RENDER_PASS_CREATE_INFO};
  rpci.attachmentCount = 1;
  rpci.pAttachments = &colour;
  rpci.subpassCount = 1;
  rpci.pSubpasses = &subpass;
  rpci.dependencyCount = 2;
  rpci.pDependencies = deps;
  vkCheck(vkCreateRenderPass(dev, &rpci, nullptr, &pass_), "vkCreateRenderPass");

  const VkShaderModule vert = shaderModule(dev, spv_plane_vert, sizeof(spv_plane_vert));
  const VkShaderModule frag = shaderModule(dev, spv_plane_frag, sizeof(spv_plane_frag));
  VkPipelineShaderStageCreateInfo stages[2]{};
  stages[0].sType = stages[1].sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  stages[0].stage = VK_SHADER_STAGE_VERTEX_BIT;
  stages[0].module = vert;
  stages[0].pName = "main";
  stages[1].stage = VK_SHADER_STAGE_FRAGMENT_BIT;
  stages[1].module = frag;
  stages[1].pName = "main";
  VkPipelineVertexInputStateCreateInfo vertexInput{VK_STRUCTURE_TYPE_PIPELINE_VERTEX_INPUT_STATE_CREATE_INFO};
  VkPipelineInputAssemblyStateCreateInfo assembly{
      VK_STRUCTURE_TYPE_PIPELINE_INPUT_ASSEMBLY_STATE_CREATE_INFO};
  assembly.topology = VK_PRIMITIVE_TOPOLOGY_TRIANGLE_STRIP;
  VkPipelineViewportStateCreateInfo viewport{VK_STRUCTURE_TYPE_PIPELINE_VIEWPORT_STATE_CREATE_INFO};
  viewport.viewportCount = 1;
  viewport.scissorCount = 1;
  VkPipelineRasterizationStateCreateInfo raster{VK_STRUCTURE_TYPE_PIPELINE_RASTERIZATION_STATE_CREATE_INFO};
  raster.polygonMode = VK_POLYGON_MODE_FILL;
  raster.cullMode = VK_CULL_MODE_NONE;  // the plane may be seen from either side as it turns
  raster.frontFace = VK_FRONT_FACE_COUNTER_CLOCKWISE;
  raster.lineWidth = 1.0f;
  VkPipelineMultisampleStateCreateInfo multisample{VK_STRUCTURE_TYPE_PIPELINE_MULTISAMPLE_STATE_CREATE_INFO};
  multisample.rasterizationSamples = VK_SAMPLE_COUNT_1_BIT;
  VkPipelineColorBlendAttachmentState blendAttachment{};
  blendAttachment.colorWriteMask = VK_COLOR_COMPONENT_R_BIT | VK_COLOR_COMPONENT_G_BIT |
                                   VK_COLOR_COMPONENT_B_BIT | VK_COLOR_COMPONENT_A_BIT;
  VkPipelineColorBlendStateCreateInfo blend{VK_STRUCTURE_TYPE_PIPELINE_COLOR_BLEND_STATE_CREATE_INFO};
  blend.attachmentCount = 1;
  blend.pAttachments = &blendAttachment;
  const VkDynamicState dynamics[] = {VK_DYNAMIC_STATE_VIEWPORT, VK_DYNAMIC_STATE_SCISSOR};
  VkPipelineDynamicStateCreateInfo dynamic{VK_STRUCTURE_TYPE_PIPELINE_DYNAMIC_STATE_CREATE_INFO};
  dynamic.dynamicStateCount = 2;
  dynamic.pDynamicStates = dynamics;
  VkGraphicsPipelineCreateInfo gpci{VK_STRUCTURE_TYPE_GRAPHICS_PIPELINE_CREATE_INFO};
  gpci.stageCount = 2;
  gpci.pStages = stages;
  gpci.pVertexInputState = &vertexInput;
  gpci.pInputAssemblyState = &assembly;
  gpci.pViewportState = &viewport;
  gpci.pRasterizationState = &raster;
  gpci.pMultisampleState = &multisample;
  gpci.pColorBlendState = &blend;
  gpci.pDynamicState = &dynamic;
  gpci.layout = layout_;
  gpci.renderPass = pass_;
  const VkResult r = vkCreateGraphicsPipelines(dev, VK_NULL_HANDLE, 1, &gpci, nullptr, &pipeline_);
  vkDestroyShaderModule(dev, vert, nullptr);
  vkDestroyShaderModule(dev, frag, nullptr);
  vkCheck(r, "vkCreateGraphicsPipelines (plane)");
}

void PlaneRenderer::destroyFormatDependent() {
  vkDestroyPipeline(device_.get(), pipeline_, nullptr);
  vkDestroyRenderPass(device_.get(), pass_, nullptr);
  pipeline_ = VK_NULL_HANDLE;
  pass_ = VK_NULL_HANDLE;
}

void PlaneRenderer::createFramebuffers(const RenderTarget& target) {
  extent_ = target.extent();
  generation_ = target.generation();
  for (uint32_t i = 0; i < target.imageCount(); ++i) {
    const VkImageView view = target.view(i);
    VkFramebufferCreateInfo fci{VK_STRUCTURE_TYPE_FRAMEBUFFER_CREATE_INFO};
    fci.renderPass = pass_;
    fci.attachmentCount = 1;
    fci.pAttachments = &view;
    fci.width = extent_.width;
    fci.height = extent_.height;
    fci.layers = 1;
    VkFramebuffer fb = VK_NULL_HANDLE;
    vkCheck(vkCreateFramebuffer(device_.get(), &fci, nullptr, &fb), "vkCreateFramebuffer");
    framebuffers_.push_back(fb);
  }
}

void PlaneRenderer::destroyFramebuffers() {
  for (VkFramebuffer fb : framebuffers_) vkDestroyFramebuffer(device_.get(), fb, nullptr);
  framebuffers_.clear();
}

void PlaneRenderer::follow(const RenderTarget& target) {
  if (target.generation() == generation_) return;
  destroyFramebuffers();
  if (target.format() != format_ || target.finishedLayout() != finishedLayout_) {
    destroyFormatDependent();
    createFormatDependent(target);
  }
  createFramebuffers(target);
}

void PlaneRenderer::record(VkCommandBuffer cmd, uint32_t image, uint32_t texture,
                           const PlanePush& push) const {
  VkClearValue clear{};
  clear.color = background_;
  VkRenderPassBeginInfo rpbi{VK_STRUCTURE_TYPE_RENDER_PASS_BEGIN_INFO};
  rpbi.renderPass = pass_;
  rpbi.framebuffer = framebuffers_[image];
  rpbi.renderArea = {{0, 0}, extent_};
  rpbi.clearValueCount = 1;
  rpbi.pClearValues = &clear;
  vkCmdBeginRenderPass(cmd, &rpbi, VK_SUBPASS_CONTENTS_INLINE);
  const VkViewport vp{0.0f, 0.0f, float(extent_.width), float(extent_.height), 0.0f, 1.0f};
  const VkRect2D scissor{{0, 0}, extent_};
  vkCmdSetViewport(cmd, 0, 1, &vp);
  vkCmdSetScissor(cmd, 0, 1, &scissor);
  vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, pipeline_);
  vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_GRAPHICS, layout_, 0, 1, &sets_[texture], 0, nullptr);
  PlanePush p = push;
  p.encodeSrgb = isSrgbFormat(format_) ? 0u : 1u;
  vkCmdPushConstants(cmd, layout_, VK_SHADER_STAGE_VERTEX_BIT | VK_SHADER_STAGE_FRAGMENT_BIT, 0,
                     sizeof(PlanePush), &p);
  vkCmdDraw(cmd, 4, 1, 0, 0);
  vkCmdEndRenderPass(cmd);
}

}  // namespace tessera::viewer
