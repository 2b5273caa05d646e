#include "window.hpp"

#include <GLFW/glfw3.h>

#include "vulkan_host.hpp"

namespace tessera::viewer {

GlfwSession::GlfwSession() {
  if (!glfwInit()) {
    const char* why = nullptr;
    glfwGetError(&why);
    throw VulkanError(std::string("cannot open a window (glfwInit: ") + (why ? why : "unknown error") +
                      "); without a display use --offscreen, or run under xvfb-run");
  }
  if (!glfwVulkanSupported()) {
    glfwTerminate();
    throw VulkanError("GLFW finds no Vulkan loader with window-surface support; use --offscreen");
  }
}

GlfwSession::~GlfwSession() { glfwTerminate(); }

std::vector<const char*> GlfwSession::instanceExtensions() const {
  uint32_t n = 0;
  const char** names = glfwGetRequiredInstanceExtensions(&n);
  if (!names) throw VulkanError("GLFW cannot name the Vulkan surface extensions of this platform");
  return std::vector<const char*>(names, names + n);
}

Window::Window(VkInstance instance, uint32_t width, uint32_t height, const std::string& title)
    : instance_(instance) {
  glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
  glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
  window_ = glfwCreateWindow(int(width), int(height), title.c_str(), nullptr, nullptr);
  if (!window_) {
    const char* why = nullptr;
    glfwGetError(&why);
    throw VulkanError(std::string("glfwCreateWindow failed: ") + (why ? why : "unknown error"));
  }
  glfwSetWindowUserPointer(window_, this);
  glfwSetKeyCallback(window_, &Window::onKey);
  const VkResult r = glfwCreateWindowSurface(instance_, window_, nullptr, &surface_);
  if (r != VK_SUCCESS) {
    glfwDestroyWindow(window_);
    vkCheck(r, "glfwCreateWindowSurface");
  }
}

Window::~Window() {
  vkDestroySurfaceKHR(instance_, surface_, nullptr);
  glfwDestroyWindow(window_);
}

VkExtent2D Window::framebufferSize() const {
  int w = 0, h = 0;
  glfwGetFramebufferSize(window_, &w, &h);
  return {uint32_t(w > 0 ? w : 0), uint32_t(h > 0 ? h : 0)};
}

bool Window::shouldClose() const { return glfwWindowShouldClose(window_); }
void Window::setTitle(const std::string& title) { glfwSetWindowTitle(window_, title.c_str()); }

std::vector<int> Window::poll() {
  glfwPollEvents();
  std::vector<int> keys;
  keys.swap(keys_);
  return keys;
}

void Window::waitEvents() { glfwWaitEvents(); }

void Window::onKey(GLFWwindow* w, int key, int, int action, int) {
  if (action != GLFW_PRESS) return;
  static_cast<Window*>(glfwGetWindowUserPointer(w))->keys_.push_back(key);
}

}  // namespace tessera::viewer
