#include "render_target.hpp"

#include <algorithm>

namespace tessera::viewer {

bool isSrgbFormat(VkFormat f) {
  return f == VK_FORMAT_B8G8R8A8_SRGB || f == VK_FORMAT_R8G8B8A8_SRGB || f == VK_FORMAT_A8B8G8R8_SRGB_PACK32;
}

namespace {

const char* formatName(VkFormat f) {
  switch (f) {
    case VK_FORMAT_B8G8R8A8_SRGB:
      return "B8G8R8A8_SRGB";
    case VK_FORMAT_R8G8B8A8_SRGB:
      return "R8G8B8A8_SRGB";
    case VK_FORMAT_B8G8R8A8_UNORM:
      return "B8G8R8A8_UNORM";
    case VK_FORMAT_R8G8B8A8_UNORM:
      return "R8G8B8A8_UNORM";
    default:
      return "another format";
  }
}

const char* modeName(VkPresentModeKHR m) {
  switch (m) {
    case VK_PRESENT_MODE_IMMEDIATE_KHR:
      return "immediate";
    case VK_PRESENT_MODE_MAILBOX_KHR:
      return "mailbox";
    case VK_PRESENT_MODE_FIFO_KHR:
      return "fifo";
    case VK_PRESENT_MODE_FIFO_RELAXED_KHR:
      return "fifo-relaxed";
    default:
      return "other";
  }
}

std::string sizeText(VkExtent2D e) { return std::to_string(e.width) + "x" + std::to_string(e.height); }

}  // namespace

void RenderTarget::createViews() {
  for (VkImage img : images_) {
    VkImageViewCreateInfo vci{VK_STRUCTURE_TYPE_IMAGE_VIEW_CREATE_INFO};
    vci.image = img;
    vci.viewType = VK_IMAGE_VIEW_TYPE_2D;
    vci.format = format_;
    vci.subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1};
    VkImageView v = VK_NULL_HANDLE;
    vkCheck(vkCreateImageView(device_.get(), &vci, nullptr, &v), "vkCreateImageView (render target)");
    views_.push_back(v);
  }
}

void RenderTarget::destroyViews() {
  for (VkImageView v : views_) vkDestroyImageView(device_.get(), v, nullptr);
  views_.clear();
}

// ---- swapchain --------------------------------------------------------------------------------

SwapchainTarget::SwapchainTarget(const Device& device, VkSurfaceKHR surface, VkExtent2D size, bool vsync)
    : RenderTarget(device), surface_(surface), vsync_(vsync) {
  create(size);
}

SwapchainTarget::~SwapchainTarget() {
  destroyViews();
  for (VkSemaphore s : rendered_) vkDestroySemaphore(device_.get(), s, nullptr);
  vkDestroySwapchainKHR(device_.get(), swapchain_, nullptr);
}

void SwapchainTarget::create(VkExtent2D size) {
  const VkPhysicalDevice pd = device_.physical();
  VkSurfaceCapabilitiesKHR caps;
  vkCheck(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(pd, surface_, &caps),
          "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
  uint32_t n = 0;
  vkGetPhysicalDeviceSurfaceFormatsKHR(pd, surface_, &n, nullptr);
  std::vector<VkSurfaceFormatKHR> formats(n);
  vkGetPhysicalDeviceSurfaceFormatsKHR(pd, surface_, &n, formats.data());
  if (formats.empty()) throw VulkanError("the window surface offers no formats");
  // An sRGB format lets the hardware encode; 8-bit UNORM works too, with the shader encoding.
  auto rank = [](VkFormat f) {
    if (isSrgbFormat(f)) return 0;
    if (f == VK_FORMAT_B8G8R8A8_UNORM || f == VK_FORMAT_R8G8B8A8_UNORM) return 1;
    return 2;
  };
  VkSurfaceFormatKHR chosen = formats[0];
  for (const VkSurfaceFormatKHR& f : formats)
    if (f.colorSpace == VK_COLOR_SPACE_SRGB_NONLINEAR_KHR && rank(f.format) < rank(chosen.format)) chosen = f;
  if (rank(chosen.format) == 2) throw VulkanError("the window surface offers no 8-bit RGBA/BGRA format");

  vkGetPhysicalDeviceSurfacePresentModesKHR(pd, surface_, &n, nullptr);
  std::vector<VkPresentModeKHR> modes(n);
  vkGetPhysicalDeviceSurfacePresentModesKHR(pd, surface_, &n, modes.data());
  mode_ = VK_PRESENT_MODE_FIFO_KHR;  // always offered
  if (!vsync_)
    for (VkPresentModeKHR m : {VK_PRESENT_MODE_IMMEDIATE_KHR, VK_PRESENT_MODE_MAILBOX_KHR})
      if (std::find(modes.begin(), modes.end(), m) != modes.end()) {
        mode_ = m;
        break;
      }

  VkExtent2D extent = caps.currentExtent;
  if (extent.width == UINT32_MAX) {
    extent.width = std::clamp(size.width, caps.minImageExtent.width, caps.maxImageExtent.width);
    extent.height = std::clamp(size.height, caps.minImageExtent.height, caps.maxImageExtent.height);
  }
  uint32_t count = caps.minImageCount + 1;
  if (caps.maxImageCount) count = std::min(count, caps.maxImageCount);
  // Screenshots copy from the swapchain image: what is saved is what was presented.
  VkImageUsageFlags usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT;
  readable_ = caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
  if (readable_) usage |= VK_IMAGE_USAGE_TRANSFER_SRC_BIT;

  VkSwapchainCreateInfoKHR sci{VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR};
  sci.surface = surface_;
  sci.minImageCount = count;
  sci.imageFormat = chosen.format;
  sci.imageColorSpace = chosen.colorSpace;
  sci.imageExtent = extent;
  sci.imageArrayLayers = 1;
  sci.imageUsage = usage;
  sci.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE;
  sci.preTransform = caps.currentTransform;
  sci.compositeAlpha =
      (caps.supportedCompositeAlpha & VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR)
          ? VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR
          : VkCompositeAlphaFlagBitsKHR(caps.supportedCompositeAlpha & -caps.supportedCompositeAlpha);
  sci.presentMode = mode_;
  sci.clipped = VK_TRUE;
  sci.oldSwapchain = swapchain_;
  VkSwapchainKHR created = VK_NULL_HANDLE;
  vkCheck(vkCreateSwapchainKHR(device_.get(), &sci, nullptr, &created), "vkCreateSwapchainKHR");
  destroyViews();
  if (swapchain_) vkDestroySwapchainKHR(device_.get(), swapchain_, nullptr);
  swapchain_ = created;
  format_ = chosen.format;
  extent_ = extent;

  vkGetSwapchainImagesKHR(device_.get(), swapchain_, &n, nullptr);
  images_.resize(n);
  vkGetSwapchainImagesKHR(device_.get(), swapchain_, &n, images_.data());
  createViews();
  for (VkSemaphore s : rendered_) vkDestroySemaphore(device_.get(), s, nullptr);
  rendered_.assign(n, VK_NULL_HANDLE);
  VkSemaphoreCreateInfo semInfo{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
  for (VkSemaphore& s : rendered_)
    vkCheck(vkCreateSemaphore(device_.get(), &semInfo, nullptr, &s), "vkCreateSemaphore");
  ++generation_;
}

std::optional<RenderTarget::Acquired> SwapchainTarget::acquire(VkSemaphore acquireSemaphore) {
  uint32_t index = 0;
  const VkResult r =
      vkAcquireNextImageKHR(device_.get(), swapchain_, UINT64_MAX, acquireSemaphore, VK_NULL_HANDLE, &index);
  if (r == VK_ERROR_OUT_OF_DATE_KHR) return std::nullopt;
  if (r != VK_SUBOPTIMAL_KHR) vkCheck(r, "vkAcquireNextImageKHR");
  return Acquired{index, true};
}

bool SwapchainTarget::present(uint32_t index) {
  VkPresentInfoKHR pi{VK_STRUCTURE_TYPE_PRESENT_INFO_KHR};
  pi.waitSemaphoreCount = 1;
  pi.pWaitSemaphores = &rendered_[index];
  pi.swapchainCount = 1;
  pi.pSwapchains = &swapchain_;
  pi.pImageIndices = &index;
  const VkResult r = vkQueuePresentKHR(device_.queue(), &pi);
  if (r == VK_ERROR_OUT_OF_DATE_KHR || r == VK_SUBOPTIMAL_KHR) return false;
  vkCheck(r, "vkQueuePresentKHR");
  return true;
}

void SwapchainTarget::recreate(VkExtent2D size) { create(size); }

std::string SwapchainTarget::describe() const {
  return std::string("swapchain ") + formatName(format_) + " " + sizeText(extent_) + ", " +
         std::to_string(images_.size()) + " images, " + modeName(mode_);
}

// ---- offscreen --------------------------------------------------------------------------------

OffscreenTarget::OffscreenTarget(const Device& device, VkExtent2D size) : RenderTarget(device) {
  format_ = VK_FORMAT_R8G8B8A8_SRGB;
  extent_ = size;
  VkImageCreateInfo ici{VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO};
  ici.imageType = VK_IMAGE_TYPE_2D;
  ici.format = format_;
  ici.extent = {size.width, size.height, 1};
  ici.mipLevels = 1;
  ici.arrayLayers = 1;
  ici.samples = VK_SAMPLE_COUNT_1_BIT;
  ici.tiling = VK_IMAGE_TILING_OPTIMAL;
  ici.usage = VK_IMAGE_USAGE_COLOR_ATTACHMENT_BIT | VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
  VkImage img = VK_NULL_HANDLE;
  vkCheck(vkCreateImage(device_.get(), &ici, nullptr, &img), "vkCreateImage (offscreen target)");
  images_.push_back(img);
  VkMemoryRequirements mr;
  vkGetImageMemoryRequirements(device_.get(), img, &mr);
  VkMemoryAllocateInfo mai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  mai.allocationSize = mr.size;
  mai.memoryTypeIndex = device_.memoryType(mr.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  vkCheck(vkAllocateMemory(device_.get(), &mai, nullptr, &memory_), "vkAllocateMemory (offscreen target)");
  vkCheck(vkBindImageMemory(device_.get(), img, memory_, 0), "vkBindImageMemory (offscreen target)");
  createViews();
  ++generation_;
}

OffscreenTarget::~OffscreenTarget() {
  destroyViews();
  for (VkImage img : images_) vkDestroyImage(device_.get(), img, nullptr);
  vkFreeMemory(device_.get(), memory_, nullptr);
}

std::string OffscreenTarget::describe() const {
  return std::string("offscreen ") + formatName(format_) + " " + sizeText(extent_);
}

}  // namespace tessera::viewer
