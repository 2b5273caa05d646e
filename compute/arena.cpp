#include "arena.hpp"

#include <algorithm>
#include <string>

#include "error.hpp"

namespace tessera {

namespace {

using std::to_string;

constexpr VkBufferUsageFlags kUsage =
    VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;

VkDeviceSize alignUp(VkDeviceSize v, VkDeviceSize a) {
  if (v > UINT64_MAX - (a - 1)) fail(ErrorCode::OutOfArena, "arena: sizes overflow 64 bits");
  return (v + a - 1) / a * a;
}

VkDeviceSize addChecked(VkDeviceSize a, VkDeviceSize b) {
  if (a > UINT64_MAX - b) fail(ErrorCode::OutOfArena, "arena: sizes overflow 64 bits");
  return a + b;
}

VkDeviceSize maxAllocationSize(const vk::Gpu& gpu) {
  VkPhysicalDeviceMaintenance3Properties m3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
  VkPhysicalDeviceProperties2 p{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, &m3};
  gpu.fn.vkGetPhysicalDeviceProperties2(gpu.physicalDevice, &p);
  return m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : UINT64_MAX;
}

bool isOutOfMemory(VkResult r) {
  return r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY;
}

}  // namespace

const char* arenaRegionName(ArenaRegion r) {
  switch (r) {
    case ArenaRegion::Weights:
      return "weights";
    case ArenaRegion::Activations:
      return "activations";
    case ArenaRegion::Scratch:
      return "scratch";
    case ArenaRegion::Staging:
      return "staging";
  }
  return "?";
}

VkDeviceSize Arena::offsetAlignment(const vk::Gpu& gpu) {
  return std::max<VkDeviceSize>(gpu.facts.minStorageBufferOffsetAlignment, 64);
}

Arena::Arena(const vk::Gpu& gpu, const ArenaSizes& sizes) : gpu_(gpu), sizes_(sizes) {
  const VkDeviceSize a = offsetAlignment(gpu);
  base_[int(ArenaRegion::Weights)] = 0;
  base_[int(ArenaRegion::Activations)] = alignUp(sizes.weights, a);
  base_[int(ArenaRegion::Scratch)] =
      alignUp(addChecked(base_[int(ArenaRegion::Activations)], sizes.activations), a);
  deviceBytes_ = addChecked(base_[int(ArenaRegion::Scratch)], sizes.scratch);
  // Whole atoms, so flushing any part of staging on non-coherent memory stays inside the buffer.
  if (sizes.staging)
    stagingBytes_ = alignUp(sizes.staging, std::max<VkDeviceSize>(gpu.facts.nonCoherentAtomSize, 4));
}

Arena::~Arena() {
  const vk::Functions& fn = gpu_.fn;
  if (unmap_) fn.vkUnmapMemory(gpu_.device, stagingMemory_);
  if (device_) fn.vkDestroyBuffer(gpu_.device, device_, nullptr);
  if (staging_) fn.vkDestroyBuffer(gpu_.device, staging_, nullptr);
  for (uint32_t i = 0; i < ownedCount_; ++i) fn.vkFreeMemory(gpu_.device, owned_[i], nullptr);
}

void Arena::createBuffers() {
  const vk::Functions& fn = gpu_.fn;
  auto make = [&](VkDeviceSize bytes, VkBuffer& buffer, ArenaBlockRequirements& req, bool hostVisible) {
    if (!bytes) return;
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = bytes;
    bi.usage = kUsage;
    VkBuffer made = VK_NULL_HANDLE;  // a failed call leaves its output undefined
    const VkResult r = fn.vkCreateBuffer(gpu_.device, &bi, nullptr, &made);
    if (isOutOfMemory(r)) {
      VkDeviceSize largest = 0;
      for (uint32_t i = 0; i < gpu_.memory.memoryHeapCount; ++i)
        largest = std::max(largest, gpu_.memory.memoryHeaps[i].size);
      fail(ErrorCode::OutOfArena, "arena: a buffer of " + to_string(bytes) +
                                      " bytes is refused by the device (" + vk::resultName(r) +
                                      "); its largest memory heap holds " + to_string(largest) + " bytes");
    }
    TESSERA_VK_CHECK(r);
    buffer = made;
    VkMemoryRequirements mr;
    fn.vkGetBufferMemoryRequirements(gpu_.device, buffer, &mr);
    req.size = mr.size;
    req.alignment = mr.alignment;
    req.memoryTypeBits = mr.memoryTypeBits;
    if (hostVisible) {
      // Readbacks are far faster from cached memory; coherent spares the flushes.
      req.memoryType =
          gpu_.findMemoryType(mr.memoryTypeBits, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
                              VK_MEMORY_PROPERTY_HOST_COHERENT_BIT | VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
      // Flush ranges are whole atoms counted from the start of the memory, so the block starts on one.
      req.alignment = std::max<VkDeviceSize>(req.alignment, gpu_.facts.nonCoherentAtomSize);
    } else {
      req.memoryType = gpu_.findMemoryType(mr.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
      if (req.memoryType < 0) req.memoryType = gpu_.findMemoryType(mr.memoryTypeBits, 0);
    }
  };
  make(deviceBytes_, device_, req_.device, false);
  make(stagingBytes_, staging_, req_.staging, true);
}

ArenaRequirements Arena::requiredBytes(const vk::Gpu& gpu, const ArenaSizes& sizes) {
  Arena probe(gpu, sizes);  // its buffers are destroyed on return; no memory is allocated
  probe.createBuffers();
  return probe.req_;
}

VkDeviceMemory Arena::allocate(uint32_t type, VkDeviceSize bytes, const char* what) {
  const VkMemoryType& mt = gpu_.memory.memoryTypes[type];
  const VkDeviceSize heap = gpu_.memory.memoryHeaps[mt.heapIndex].size;
  const std::string need =
      "arena: " + to_string(bytes) + " bytes needed (" + what + ") in memory type " + to_string(type);
  if (bytes > heap)
    fail(ErrorCode::OutOfArena,
         need + ", whose heap " + to_string(mt.heapIndex) + " holds " + to_string(heap) + " bytes");
  const VkDeviceSize largest = maxAllocationSize(gpu_);
  if (bytes > largest)
    fail(ErrorCode::OutOfArena, need + " in one allocation; the device allows at most " + to_string(largest) +
                                    " bytes per allocation");
  VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
  ai.allocationSize = bytes;
  ai.memoryTypeIndex = type;
  VkDeviceMemory memory = VK_NULL_HANDLE;
  const VkResult r = gpu_.fn.vkAllocateMemory(gpu_.device, &ai, nullptr, &memory);
  if (isOutOfMemory(r))
    fail(ErrorCode::OutOfArena, need + ", more than the device has free (" + vk::resultName(r) + ")");
  TESSERA_VK_CHECK(r);
  owned_[ownedCount_++] = memory;
  return memory;
}

void Arena::mapStaging(VkDeviceMemory memory, VkDeviceSize offset, void* hostMapping) {
  stagingMemory_ = memory;
  stagingMemoryOffset_ = offset;
  if (hostMapping) {
    mapped_ = hostMapping;
    return;
  }
  TESSERA_VK_CHECK(gpu_.fn.vkMapMemory(gpu_.device, memory, offset, req_.staging.size, 0, &mapped_));
  unmap_ = true;
}

std::unique_ptr<Arena> Arena::create(const vk::Gpu& gpu, const ArenaSizes& sizes) {
  // On any failure the unique_ptr's destructor releases whatever was made so far.
  std::unique_ptr<Arena> a(new Arena(gpu, sizes));
  a->createBuffers();
  const vk::Functions& fn = gpu.fn;
  const ArenaBlockRequirements& rd = a->req_.device;
  const ArenaBlockRequirements& rs = a->req_.staging;
  if (a->staging_ && rs.memoryType < 0)
    fail(ErrorCode::DeviceFeatureMissing, "arena: no host-visible memory type can hold the staging buffer");
  if (a->device_ && rd.memoryType < 0)
    fail(ErrorCode::DeviceFeatureMissing, "arena: no memory type can hold the device buffer");

  if (a->device_ && a->staging_ && rd.memoryType == rs.memoryType) {
    // Both kinds on one memory type (unified memory): one allocation, staging after the rest.
    const VkDeviceSize stagingAt = alignUp(rd.size, rs.alignment);
    VkDeviceMemory m = a->allocate(static_cast<uint32_t>(rd.memoryType), addChecked(stagingAt, rs.size),
                                   "weights, activations, scratch and staging");
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, a->device_, m, 0));
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, a->staging_, m, stagingAt));
    a->stagingCoherent_ =
        gpu.memory.memoryTypes[rs.memoryType].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    a->mapStaging(m, stagingAt, nullptr);
    return a;
  }
  if (a->device_) {
    VkDeviceMemory m =
        a->allocate(static_cast<uint32_t>(rd.memoryType), rd.size, "weights, activations and scratch");
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, a->device_, m, 0));
  }
  if (a->staging_) {
    VkDeviceMemory m = a->allocate(static_cast<uint32_t>(rs.memoryType), rs.size, "staging");
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, a->staging_, m, 0));
    a->stagingCoherent_ =
        gpu.memory.memoryTypes[rs.memoryType].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    a->mapStaging(m, 0, nullptr);
  }
  return a;
}

void Arena::checkHostBlock(const ArenaBlockRequirements& req, const HostMemoryBlock& block, const char* what,
                           bool hostVisible) const {
  const std::string name = std::string("arena: the host's ") + what + " block";
  if (!block.memory) fail(ErrorCode::InvalidArgument, name + " has no VkDeviceMemory");
  if (block.memoryTypeIndex >= gpu_.memory.memoryTypeCount ||
      !(req.memoryTypeBits & (1u << block.memoryTypeIndex)))
    fail(ErrorCode::InvalidArgument, name + " is of memory type " + to_string(block.memoryTypeIndex) +
                                         ", which the arena's buffer cannot use (allowed type mask " +
                                         to_string(req.memoryTypeBits) + ")");
  const VkMemoryPropertyFlags flags = gpu_.memory.memoryTypes[block.memoryTypeIndex].propertyFlags;
  if (hostVisible && !(flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
    fail(ErrorCode::InvalidArgument,
         name + " is of memory type " + to_string(block.memoryTypeIndex) + ", which is not host-visible");
  if (block.offset % req.alignment)
    fail(ErrorCode::InvalidArgument, name + " starts at offset " + to_string(block.offset) +
                                         ", not a multiple of the required alignment " +
                                         to_string(req.alignment));
  if (block.size < req.size)
    fail(ErrorCode::OutOfArena,
         name + " holds " + to_string(block.size) + " bytes; the arena needs " + to_string(req.size));
  if (block.offset > UINT64_MAX - block.size)
    fail(ErrorCode::InvalidArgument, name + " ends beyond 2^64 bytes");
}

std::unique_ptr<Arena> Arena::createInHostMemory(const vk::Gpu& gpu, const ArenaSizes& sizes,
                                                 const HostMemoryBlock& device,
                                                 const HostMemoryBlock& staging) {
  std::unique_ptr<Arena> a(new Arena(gpu, sizes));
  a->createBuffers();
  // Every check before the first bind, so a refused block leaves the host's memory untouched.
  if (a->device_) a->checkHostBlock(a->req_.device, device, "device", false);
  if (a->staging_) a->checkHostBlock(a->req_.staging, staging, "staging", true);
  if (a->device_ && a->staging_ && device.memory == staging.memory) {
    const VkDeviceSize dEnd = device.offset + a->req_.device.size,
                       sEnd = staging.offset + a->req_.staging.size;
    if (device.offset < sEnd && staging.offset < dEnd)
      fail(ErrorCode::InvalidArgument, "arena: the host's device block [" + to_string(device.offset) + ", " +
                                           to_string(dEnd) + ") and staging block [" +
                                           to_string(staging.offset) + ", " + to_string(sEnd) +
                                           ") overlap in one VkDeviceMemory");
  }
  const vk::Functions& fn = gpu.fn;
  if (a->device_)
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, a->device_, device.memory, device.offset));
  if (a->staging_) {
    TESSERA_VK_CHECK(fn.vkBindBufferMemory(gpu.device, a->staging_, staging.memory, staging.offset));
    a->stagingCoherent_ =
        gpu.memory.memoryTypes[staging.memoryTypeIndex].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    a->mapStaging(staging.memory, staging.offset, staging.mapped);
  }
  return a;
}

VkDeviceSize Arena::capacity(ArenaRegion r) const {
  switch (r) {
    case ArenaRegion::Weights:
      return sizes_.weights;
    case ArenaRegion::Activations:
      return sizes_.activations;
    case ArenaRegion::Scratch:
      return sizes_.scratch;
    case ArenaRegion::Staging:
      return sizes_.staging;
  }
  return 0;
}

BufferRef Arena::region(ArenaRegion r, VkDeviceSize offset, VkDeviceSize size) const {
  const VkDeviceSize cap = capacity(r);
  if (size == 0)
    fail(ErrorCode::InvalidArgument,
         std::string("arena: empty range requested in the ") + arenaRegionName(r) + " region");
  if (offset > cap || size > cap - offset) {
    const std::string need = offset > UINT64_MAX - size ? "more than 2^64" : to_string(offset + size);
    fail(ErrorCode::OutOfArena, std::string("arena: ") + to_string(size) + " bytes at offset " +
                                    to_string(offset) + " need " + need + " bytes of the " +
                                    arenaRegionName(r) + " region, which holds " + to_string(cap));
  }
  return {r == ArenaRegion::Staging ? staging_ : device_, base_[int(r)] + offset, size};
}

Tensor Arena::tensor(ArenaRegion r, VkDeviceSize offset, Shape4 shape, DType dtype) const {
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.ref = region(r, offset, (t.bytes() + 3) / 4 * 4);
  return t;
}

void Arena::syncStaging(VkDeviceSize offset, VkDeviceSize size, bool flush) const {
  if (stagingCoherent_ || !staging_ || size == 0) return;
  region(ArenaRegion::Staging, offset, size);  // bounds check
  const VkDeviceSize atom = std::max<VkDeviceSize>(gpu_.facts.nonCoherentAtomSize, 1);
  const VkDeviceSize begin = (stagingMemoryOffset_ + offset) / atom * atom;
  const VkDeviceSize end =
      std::min(alignUp(stagingMemoryOffset_ + offset + size, atom), stagingMemoryOffset_ + stagingBytes_);
  VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE, nullptr, stagingMemory_, begin,
                            end - begin};
  if (flush)
    TESSERA_VK_CHECK(gpu_.fn.vkFlushMappedMemoryRanges(gpu_.device, 1, &range));
  else
    TESSERA_VK_CHECK(gpu_.fn.vkInvalidateMappedMemoryRanges(gpu_.device, 1, &range));
}

void Arena::flushStaging(VkDeviceSize offset, VkDeviceSize size) const { syncStaging(offset, size, true); }
void Arena::invalidateStaging(VkDeviceSize offset, VkDeviceSize size) const {
  syncStaging(offset, size, false);
}

void Arena::recordCopy(VkCommandBuffer cmd, const BufferRef& src, const BufferRef& dst) const {
  if (!src.buffer || !dst.buffer || src.size == 0 || src.size != dst.size)
    fail(ErrorCode::InvalidArgument, "arena: a copy needs two non-empty ranges of one size (got " +
                                         to_string(src.size) + " and " + to_string(dst.size) + " bytes)");
  VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  b.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  gpu_.fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                               VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &b, 0, nullptr, 0, nullptr);
  const VkBufferCopy copy{src.offset, dst.offset, src.size};
  gpu_.fn.vkCmdCopyBuffer(cmd, src.buffer, dst.buffer, 1, &copy);
}

}  // namespace tessera
