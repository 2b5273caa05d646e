#pragma once
// Draws the textured plane into the render target: one render pass, one pipeline, and one
// descriptor set per texture slot (so switching the shown texture never updates a set that a
// frame in flight may still read).
#include <vulkan/vulkan.h>

#include <array>
#include <glm/glm.hpp>
#include <vector>

#include "render_target.hpp"

namespace tessera::viewer {

// Matches the push-constant block of shaders/plane.{vert,frag}.
struct PlanePush {
  glm::mat4 mvp{1.0f};
  glm::vec2 uvScale{1.0f};
  glm::vec2 uvOffset{0.0f};
  glm::vec2 halfSize{1.0f};
  uint32_t encodeSrgb = 0;
};

class PlaneRenderer {
 public:
  PlaneRenderer(const Device& device, const RenderTarget& target, const std::array<VkImageView, 2>& textures);
  ~PlaneRenderer();
  PlaneRenderer(const PlaneRenderer&) = delete;
  PlaneRenderer& operator=(const PlaneRenderer&) = delete;

  // Rebuilds the framebuffers after the target was recreated (a no-op when it was not).
  void follow(const RenderTarget& target);
  // The whole render pass for target image `image`, showing texture slot `texture`.
  void record(VkCommandBuffer cmd, uint32_t image, uint32_t texture, const PlanePush& push) const;

 private:
  void createFormatDependent(const RenderTarget& target);
  void destroyFormatDependent();
  void createFramebuffers(const RenderTarget& target);
  void destroyFramebuffers();

  const Device& device_;
  VkSampler sampler_ = VK_NULL_HANDLE;
  VkDescriptorSetLayout setLayout_ = VK_NULL_HANDLE;
  VkDescriptorPool pool_ = VK_NULL_HANDLE;
  std::array<VkDescriptorSet, 2> sets_{};
  VkPipelineLayout layout_ = VK_NULL_HANDLE;
  VkRenderPass pass_ = VK_NULL_HANDLE;
  VkPipeline pipeline_ = VK_NULL_HANDLE;
  VkFormat format_ = VK_FORMAT_UNDEFINED;
  VkImageLayout finishedLayout_ = VK_IMAGE_LAYOUT_UNDEFINED;
  VkClearColorValue background_{};
  std::vector<VkFramebuffer> framebuffers_;
  VkExtent2D extent_{};
  uint32_t generation_ = 0;
};

}  // namespace tessera::viewer
