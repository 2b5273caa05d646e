// Contexts: the device tessera runs on, standalone or the host's.
#include <cstddef>
#include <cstring>

#include "handles.hpp"

using namespace tessera;
using tessera::runtime::checkStruct;
using tessera::runtime::guard;

namespace {

tsr_result finishContext(std::unique_ptr<runtime::Device> device, tsr_context* out) {
  auto ctx = std::make_unique<tsr_context_t>();
  ctx->kernels = std::make_unique<vk::KernelCache>(device->gpu());
  ctx->device = std::move(device);
  *out = ctx.release();
  return TSR_SUCCESS;
}

}  // namespace

extern "C" {

void tsr_device_requirements_defaults(tsr_device_requirements* out) {
  if (!out) return;
  *out = {};
  out->struct_size = sizeof(*out);
}

tsr_result tsr_get_device_requirements(tsr_device_requirements* out) {
  return guard("tsr_get_device_requirements", [&] {
    // A host built against an older header has a shorter struct: fill only what it holds.
    checkStruct(out, "tsr_device_requirements", offsetof(tsr_device_requirements, output_image_usage));
    out->min_api_version = VK_API_VERSION_1_1;
    out->queue_flags = VK_QUEUE_COMPUTE_BIT;
    out->required_device_extension_count = 0;
    out->required_device_extensions = nullptr;
    out->want_storage_buffer_16bit_access = VK_TRUE;
    out->want_shader_float16 = VK_TRUE;
    if (out->struct_size >= sizeof(tsr_device_requirements)) {
      out->output_image_usage = VK_IMAGE_USAGE_TRANSFER_DST_BIT;
      out->output_format_features = VK_FORMAT_FEATURE_TRANSFER_DST_BIT;
    }
    return TSR_SUCCESS;
  });
}

void tsr_standalone_desc_defaults(tsr_standalone_desc* desc) {
  if (!desc) return;
  *desc = {};
  desc->struct_size = sizeof(*desc);
  desc->allow_fp16 = VK_TRUE;
}

void tsr_host_device_desc_defaults(tsr_host_device_desc* desc) {
  if (!desc) return;
  *desc = {};
  desc->struct_size = sizeof(*desc);
}

void tsr_context_info_defaults(tsr_context_info* info) {
  if (!info) return;
  *info = {};
  info->struct_size = sizeof(*info);
}

tsr_result tsr_context_create_standalone(const tsr_standalone_desc* desc, tsr_context* out) {
  return guard("tsr_context_create_standalone", [&] {
    checkStruct(desc, "tsr_standalone_desc");
    if (!out) fail(ErrorCode::InvalidArgument, "out is NULL");
    *out = nullptr;
    runtime::StandaloneOptions o;
    o.validation = desc->validation == VK_TRUE;
    if (desc->on_validation_message) {
      const tsr_message_callback cb = desc->on_validation_message;
      void* user = desc->user;
      o.onValidationMessage = [cb, user](const std::string& m) { cb(m.c_str(), user); };
    }
    o.deviceSelector = desc->device ? desc->device : "";
    o.enableFp16 = desc->allow_fp16 == VK_TRUE;
    return finishContext(runtime::Device::createStandalone(o), out);
  });
}

tsr_result tsr_context_create_from_device(const tsr_host_device_desc* desc, tsr_context* out) {
  return guard("tsr_context_create_from_device", [&] {
    checkStruct(desc, "tsr_host_device_desc");
    if (!out) fail(ErrorCode::InvalidArgument, "out is NULL");
    *out = nullptr;
    runtime::HostDevice h;
    h.instance = desc->instance;
    h.physicalDevice = desc->physical_device;
    h.device = desc->device;
    h.queueFamily = desc->queue_family;
    h.queueIndex = desc->queue_index;
    h.getInstanceProcAddr = desc->get_instance_proc_addr;
    h.getDeviceProcAddr = desc->get_device_proc_addr;
    h.storageBuffer16BitAccess = desc->storage_buffer_16bit_access == VK_TRUE;
    h.shaderFloat16 = desc->shader_float16 == VK_TRUE;
    return finishContext(runtime::Device::fromHost(h), out);
  });
}

tsr_result tsr_context_get_info(tsr_context context, tsr_context_info* info) {
  return guard("tsr_context_get_info", [&] {
    if (!context) fail(ErrorCode::InvalidArgument, "context is NULL");
    checkStruct(info, "tsr_context_info");
    const vk::Gpu& gpu = context->device->gpu();
    std::strncpy(info->device_name, gpu.facts.name.c_str(), sizeof(info->device_name) - 1);
    info->device_name[sizeof(info->device_name) - 1] = 0;
    info->fp16_storage = gpu.facts.storage16 ? VK_TRUE : VK_FALSE;
    info->owns_device = context->device->ownsDevice() ? VK_TRUE : VK_FALSE;
    return TSR_SUCCESS;
  });
}

void tsr_context_destroy(tsr_context context) { delete context; }

}  // extern "C"
