#pragma once
// Where frames are drawn: the window's swapchain, or (--offscreen, for machines without a display)
// one colour image of the same kind that nothing presents.
#include <vulkan/vulkan.h>

#include <optional>
#include <string>
#include <vector>

#include "vulkan_host.hpp"

namespace tessera::viewer {

bool isSrgbFormat(VkFormat format);

class RenderTarget {
 public:
  struct Acquired {
    uint32_t index = 0;
    bool waitsForAcquire = false;  // the submission must wait on the acquire semaphore
  };
  virtual ~RenderTarget() = default;

  VkFormat format() const { return format_; }
  VkExtent2D extent() const { return extent_; }
  uint32_t imageCount() const { return uint32_t(images_.size()); }
  VkImage image(uint32_t i) const { return images_[i]; }
  VkImageView view(uint32_t i) const { return views_[i]; }
  // Whether images can be copied out (screenshots).
  bool readable() const { return readable_; }
  // The layout the render pass leaves a finished frame in.
  virtual VkImageLayout finishedLayout() const = 0;
  // Signalled by the frame's submission and waited on by presenting (null: nothing presents).
  virtual VkSemaphore renderedSemaphore(uint32_t index) const = 0;
  // nullopt: the target no longer matches the window; recreate() it and try again.
  virtual std::optional<Acquired> acquire(VkSemaphore acquireSemaphore) = 0;
  // False: the target no longer matches the window.
  virtual bool present(uint32_t index) = 0;
  // Rebuilds for the window's current size (the device must be idle).
  virtual void recreate(VkExtent2D size) = 0;
  // Bumped by recreate(), so that framebuffers know to follow.
  uint32_t generation() const { return generation_; }
  virtual std::string describe() const = 0;

 protected:
  explicit RenderTarget(const Device& device) : device_(device) {}
  void destroyViews();
  void createViews();
  const Device& device_;
  VkFormat format_ = VK_FORMAT_UNDEFINED;
  VkExtent2D extent_{};
  std::vector<VkImage> images_;
  std::vector<VkImageView> views_;
  uint32_t generation_ = 0;
  bool readable_ = true;
};

class SwapchainTarget final : public RenderTarget {
 public:
  // `vsync`: FIFO presenting; else MAILBOX or IMMEDIATE where the surface offers them.
  SwapchainTarget(const Device& device, VkSurfaceKHR surface, VkExtent2D size, bool vsync);
  ~SwapchainTarget() override;
  VkImageLayout finishedLayout() const override { return VK_IMAGE_LAYOUT_PRESENT_SRC_KHR; }
  VkSemaphore renderedSemaphore(uint32_t index) const override { return rendered_[index]; }
  std::optional<Acquired> acquire(VkSemaphore acquireSemaphore) override;
  bool present(uint32_t index) override;
  void recreate(VkExtent2D size) override;
  std::string describe() const override;

 private:
  void create(VkExtent2D size);
  VkSurfaceKHR surface_;
  bool vsync_;
  VkSwapchainKHR swapchain_ = VK_NULL_HANDLE;
  VkPresentModeKHR mode_ = VK_PRESENT_MODE_FIFO_KHR;
  // One per image: a semaphore is reused only after its image is acquired again, which is
  // after the presentation that waited on it.
  std::vector<VkSemaphore> rendered_;
};

class OffscreenTarget final : public RenderTarget {
 public:
  OffscreenTarget(const Device& device, VkExtent2D size);
  ~OffscreenTarget() override;
  VkImageLayout finishedLayout() const override { return VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL; }
  VkSemaphore renderedSemaphore(uint32_t) const override { return VK_NULL_HANDLE; }
  std::optional<Acquired> acquire(VkSemaphore) override { return Acquired{0, false}; }
  bool present(uint32_t) override { return true; }
  void recreate(VkExtent2D) override {}
  std::string describe() const override;

 private:
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
};

}  // namespace tessera::viewer
