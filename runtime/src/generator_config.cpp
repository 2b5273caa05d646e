#include "generator_config.hpp"

#include "cascade_sizes.hpp"
#include "device.hpp"
#include "model_defaults.hpp"
#include "size_text.hpp"

namespace tessera::runtime {

GeneratorConfig generatorConfig(const tsr_context_t& ctx, const model::ModelPackage& package,
                                const tsr_generator_desc& desc, HostMemoryBlock blocks[2]) {
  const ModelDefaults d = modelDefaults(package);
  const vk::Gpu& gpu = ctx.device->gpu();
  GeneratorConfig c;
  // A cascade's default is its full output: the base's native size times the stages' scale.
  const uint32_t native = (d.nativeSize ? d.nativeSize : 64) * package.totalScale();
  c.maxWidth = desc.max_width ? desc.max_width : native;
  c.maxHeight = desc.max_height ? desc.max_height : native;
  c.maxBatch = desc.max_batch ? desc.max_batch : 1;
  try {
    cascadeSizes(package, c.maxWidth, c.maxHeight);
  } catch (const Error& e) {
    throw Error(e.code(), std::string("max ") + e.what());
  }
  if (c.maxWidth > 16384 || c.maxHeight > 16384)
    fail(ErrorCode::InvalidArgument, "max size " + sizeStr(c.maxWidth, c.maxHeight) + " exceeds 16384");
  if (c.maxBatch > 256) fail(ErrorCode::InvalidArgument, "max_batch " + std::to_string(c.maxBatch) + " exceeds 256");
  switch (const int32_t precision = enumValue(desc.precision)) {
    case TSR_PRECISION_AUTO: c.dtype = gpu.facts.storage16 ? DType::F16 : DType::F32; break;
    case TSR_PRECISION_FP32: c.dtype = DType::F32; break;
    case TSR_PRECISION_FP16:
      if (!gpu.facts.storage16)
        fail(ErrorCode::DeviceFeatureMissing, "TSR_PRECISION_FP16 needs storageBuffer16BitAccess, which " +
                                                  gpu.facts.name + " does not have enabled");
      c.dtype = DType::F16;
      break;
    default: fail(ErrorCode::InvalidArgument, "precision " + std::to_string(precision) + " is unknown");
  }
  if (desc.flags & ~uint32_t(TSR_GENERATOR_STRICT_SHAPES | TSR_GENERATOR_NO_GUIDANCE))
    fail(ErrorCode::InvalidArgument, "unknown generator flags " + std::to_string(desc.flags));
  c.guidance = d.guidanceCapable && !(desc.flags & TSR_GENERATOR_NO_GUIDANCE);
  c.strictShapes = desc.flags & TSR_GENERATOR_STRICT_SHAPES;
  if (desc.prepared_shape_count && !desc.prepared_shapes)
    fail(ErrorCode::InvalidArgument, "prepared_shape_count is set but prepared_shapes is NULL");
  for (uint32_t i = 0; i < desc.prepared_shape_count; ++i) {
    const tsr_shape& s = desc.prepared_shapes[i];
    const std::string what = "prepared shape " + std::to_string(i) + " (" + sizeStr(s.width, s.height) + " batch " +
                             std::to_string(s.batch) + ")";
    if (!s.width || !s.height || !s.batch)
      fail(ErrorCode::InvalidArgument, what + ": sizes and batch must be non-zero");
    try {
      cascadeSizes(package, s.width, s.height);
    } catch (const Error& e) {
      throw Error(e.code(), what + ": " + e.what());
    }
    if (s.width > c.maxWidth || s.height > c.maxHeight || s.batch > c.maxBatch)
      fail(ErrorCode::InvalidArgument, what + " exceeds the maxima " + sizeStr(c.maxWidth, c.maxHeight) +
                                           " batch " + std::to_string(c.maxBatch));
    c.prepared.push_back(s);
  }
  if (c.prepared.empty()) {
    c.prepared.push_back({c.maxWidth, c.maxHeight, c.maxBatch});
    if (c.maxBatch > 1) c.prepared.push_back({c.maxWidth, c.maxHeight, 1});
  }
  if (bool(desc.device_memory) != bool(desc.staging_memory))
    fail(ErrorCode::InvalidArgument, "device_memory and staging_memory are given together or not at all");
  if (desc.device_memory) {
    for (int k = 0; k < 2; ++k) {
      const tsr_memory_block& b = k == 0 ? *desc.device_memory : *desc.staging_memory;
      blocks[k] = HostMemoryBlock{b.memory, b.offset, b.size, b.memory_type_index, b.mapped};
    }
    c.deviceMemory = &blocks[0];
    c.stagingMemory = &blocks[1];
  }
  return c;
}

}  // namespace tessera::runtime
