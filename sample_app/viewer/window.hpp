#pragma once
// The GLFW window (no client API: Vulkan draws into it) and its Vulkan surface, plus the keys
// pressed since the last poll.
#include <vulkan/vulkan.h>

#include <cstdint>
#include <string>
#include <vector>

struct GLFWwindow;

namespace tessera::viewer {

// glfwInit / glfwTerminate around everything else the viewer does with GLFW.
class GlfwSession {
 public:
  GlfwSession();
  ~GlfwSession();
  GlfwSession(const GlfwSession&) = delete;
  GlfwSession& operator=(const GlfwSession&) = delete;
  // The instance extensions a window surface needs on this platform.
  std::vector<const char*> instanceExtensions() const;
};

class Window {
 public:
  Window(VkInstance instance, uint32_t width, uint32_t height, const std::string& title);
  ~Window();
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  VkSurfaceKHR surface() const { return surface_; }
  VkExtent2D framebufferSize() const;
  bool shouldClose() const;
  void setTitle(const std::string& title);
  // Processes window events; returns the keys (GLFW_KEY_*) pressed since the last call.
  std::vector<int> poll();
  // Blocks until an event arrives (while minimised, say).
  void waitEvents();

 private:
  static void onKey(GLFWwindow* w, int key, int scancode, int action, int mods);
  VkInstance instance_;
  GLFWwindow* window_ = nullptr;
  VkSurfaceKHR surface_ = VK_NULL_HANDLE;
  std::vector<int> keys_;
};

}  // namespace tessera::viewer
