#pragma once
// Tensors are views into device buffers: NCHW, contiguous, fp32 or fp16 storage.
#include <cstddef>
#include <cstdint>
#include <string>

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

namespace tessera {

enum class DType : uint8_t { F32, F16 };

inline std::size_t dtypeSize(DType t) { return t == DType::F16 ? 2 : 4; }
inline const char* dtypeName(DType t) { return t == DType::F16 ? "f16" : "f32"; }

// A byte range of a VkBuffer, as bound to one storage-buffer binding.
struct BufferRef {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize size = 0;
};

struct Shape4 {
  uint32_t n = 1, c = 1, h = 1, w = 1;
  std::size_t count() const { return std::size_t(n) * c * h * w; }
  bool operator==(const Shape4&) const = default;
  std::string str() const;
};

struct Tensor {
  BufferRef ref;
  DType dtype = DType::F32;
  Shape4 shape;
  std::size_t bytes() const { return shape.count() * dtypeSize(dtype); }
};

}  // namespace tessera
