#pragma once
// The arena: all the memory a generator uses, reserved once at creation so that generating
// allocates nothing. Two memory kinds, each one VkBuffer bound to one range of VkDeviceMemory:
//   device  — weights, activations and scratch, one after another (DEVICE_LOCAL preferred);
//   staging — uploads and downloads (HOST_VISIBLE, mapped for the arena's lifetime).
// Either the arena allocates that memory itself (one VkDeviceMemory per memory type it picks:
// one allocation in all when both kinds land on the same type, as on lavapipe and other
// unified-memory devices), or it binds into blocks of VkDeviceMemory the host owns.
#include <cstdint>
#include <memory>

#include "tensor.hpp"
#include "vk/gpu.hpp"

namespace tessera {

enum class ArenaRegion : uint8_t { Weights, Activations, Scratch, Staging };
const char* arenaRegionName(ArenaRegion r);

// Bytes each region must hold: the model's weights, the memory plan of the largest request.
struct ArenaSizes {
  VkDeviceSize weights = 0;
  VkDeviceSize activations = 0;
  VkDeviceSize scratch = 0;
  VkDeviceSize staging = 0;
};

// What a block of memory must satisfy for one of the arena's buffers to be bound into it.
struct ArenaBlockRequirements {
  VkDeviceSize size = 0;        // bytes the block must hold; 0: this kind is not used
  VkDeviceSize alignment = 1;   // the block's offset within its VkDeviceMemory must be a multiple
  uint32_t memoryTypeBits = 0;  // memory types the buffer can be bound to
  int32_t memoryType = -1;      // the type the arena would pick itself; -1: none suitable
};

struct ArenaRequirements {
  ArenaBlockRequirements device;   // weights + activations + scratch
  ArenaBlockRequirements staging;  // must also be HOST_VISIBLE
};

// A range of a VkDeviceMemory that the host owns and lends to the arena for its lifetime.
struct HostMemoryBlock {
  VkDeviceMemory memory = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize size = 0;
  uint32_t memoryTypeIndex = 0;  // the type `memory` was allocated with
  // Staging only. A VkDeviceMemory can be mapped once at a time: a host that keeps the memory
  // mapped passes its pointer to this block's first byte; null lets the arena map the block.
  void* mapped = nullptr;
};

class Arena {
 public:
  // Offsets of tensors inside a region must be multiples of this (the device's storage-buffer
  // offset alignment, at least 64 bytes so tensors do not share a cache line).
  static VkDeviceSize offsetAlignment(const vk::Gpu& gpu);
  // What a host must provide for createInHostMemory.
  static ArenaRequirements requiredBytes(const vk::Gpu& gpu, const ArenaSizes& sizes);
  // Allocates the memory: at most one VkDeviceMemory per memory kind. Refuses with OutOfArena,
  // naming needed and available bytes, when the device cannot hold it.
  static std::unique_ptr<Arena> create(const vk::Gpu& gpu, const ArenaSizes& sizes);
  // Binds into the host's memory and allocates none. The blocks may lie in one VkDeviceMemory
  // when its type suits both, as long as they do not overlap. `staging` is ignored when
  // sizes.staging is 0, `device` when the three device regions are empty.
  static std::unique_ptr<Arena> createInHostMemory(const vk::Gpu& gpu, const ArenaSizes& sizes,
                                                   const HostMemoryBlock& device,
                                                   const HostMemoryBlock& staging);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // Bytes [offset, offset+size) of a region, as a buffer range for a binding or a copy.
  // Refuses with OutOfArena when the range does not fit the region.
  BufferRef region(ArenaRegion r, VkDeviceSize offset, VkDeviceSize size) const;
  // A tensor at `offset` in a region; its range is rounded up to 4 bytes (odd fp16 counts).
  Tensor tensor(ArenaRegion r, VkDeviceSize offset, Shape4 shape, DType dtype) const;
  VkDeviceSize capacity(ArenaRegion r) const;

  // The staging region's first byte, mapped for the arena's lifetime (null without staging).
  void* stagingMapped() const { return mapped_; }
  // Make host writes to staging visible to the device, device writes visible to the host.
  // No-ops on host-coherent memory.
  void flushStaging(VkDeviceSize offset, VkDeviceSize size) const;
  void invalidateStaging(VkDeviceSize offset, VkDeviceSize size) const;
  // Records a copy between two ranges of equal size (an upload or a download), after a barrier
  // that orders it behind earlier compute and transfer work in the same command buffer.
  void recordCopy(VkCommandBuffer cmd, const BufferRef& src, const BufferRef& dst) const;

  // VkDeviceMemory objects the arena allocated: 0 in host memory, else 1 or 2.
  uint32_t allocationCount() const { return ownedCount_; }
  const ArenaRequirements& requirements() const { return req_; }

 private:
  Arena(const vk::Gpu& gpu, const ArenaSizes& sizes);
  void createBuffers();
  VkDeviceMemory allocate(uint32_t type, VkDeviceSize bytes, const char* what);
  void checkHostBlock(const ArenaBlockRequirements& req, const HostMemoryBlock& block, const char* what,
                      bool hostVisible) const;
  void mapStaging(VkDeviceMemory memory, VkDeviceSize offset, void* hostMapping);
  void syncStaging(VkDeviceSize offset, VkDeviceSize size, bool flush) const;

  const vk::Gpu& gpu_;
  ArenaSizes sizes_;
  VkDeviceSize base_[4] = {0, 0, 0, 0};  // each region's offset in its buffer
  VkDeviceSize deviceBytes_ = 0, stagingBytes_ = 0;
  VkBuffer device_ = VK_NULL_HANDLE, staging_ = VK_NULL_HANDLE;
  ArenaRequirements req_;
  VkDeviceMemory owned_[2] = {VK_NULL_HANDLE, VK_NULL_HANDLE};
  uint32_t ownedCount_ = 0;
  VkDeviceMemory stagingMemory_ = VK_NULL_HANDLE;
  VkDeviceSize stagingMemoryOffset_ = 0;  // where the staging buffer starts in its memory
  bool stagingCoherent_ = true;
  bool unmap_ = false;
  void* mapped_ = nullptr;
};

}  // namespace tessera
