// Models: a validated package, immutable once loaded, shareable between threads and contexts.
#include <cstddef>
#include <algorithm>
#include <cctype>
#include <cstring>

#include "handles.hpp"
#include "model_defaults.hpp"

using namespace tessera;
using tessera::runtime::checkStruct;
using tessera::runtime::guard;

namespace {

tsr_result finishModel(model::ModelPackage package, tsr_model* out) {
  runtime::modelDefaults(package);  // refuse what cannot be sampled at load, not at first use
  *out = new tsr_model_t{std::move(package)};
  return TSR_SUCCESS;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}

}  // namespace

extern "C" {

void tsr_model_info_defaults(tsr_model_info* info) {
  if (!info) return;
  *info = {};
  info->struct_size = sizeof(*info);
}

tsr_result tsr_model_load_file(const char* path, tsr_model* out) {
  return guard("tsr_model_load_file", [&] {
    if (!path || !out) fail(ErrorCode::InvalidArgument, "path or out is NULL");
    *out = nullptr;
    return finishModel(model::ModelPackage::readFile(path), out);
  });
}

tsr_result tsr_model_load_memory(const void* data, size_t size, tsr_model* out) {
  return guard("tsr_model_load_memory", [&] {
    if (!data || !out) fail(ErrorCode::InvalidArgument, "data or out is NULL");
    *out = nullptr;
    const auto* b = static_cast<const std::byte*>(data);
    return finishModel(model::ModelPackage::fromBuffer(std::vector<std::byte>(b, b + size)), out);
  });
}

tsr_result tsr_model_get_info(tsr_model m, tsr_model_info* info) {
  return guard("tsr_model_get_info", [&] {
    if (!m) fail(ErrorCode::InvalidArgument, "model is NULL");
    // Hosts built before cascades pass the shorter struct; the stage fields are written only when present.
    checkStruct(info, "tsr_model_info", offsetof(tsr_model_info, stage_count));
    const model::ModelPackage& p = m->package;
    const runtime::ModelDefaults d = runtime::modelDefaults(p);
    info->channels = d.imageChannels;
    info->class_count = uint32_t(p.metadata().tessera.classes.size());
    info->guidance = d.guidanceCapable ? VK_TRUE : VK_FALSE;
    info->size_multiple = d.sizeMultiple;
    info->native_size = d.nativeSize;
    info->tileable = p.metadata().tessera.paddingMode == model::PaddingMode::Circular ? VK_TRUE : VK_FALSE;
    info->default_sampler = d.sampler;
    info->default_steps = d.steps;
    info->default_guidance = d.guidance;
    info->consistency_steps = 0;
    for (const auto& [steps, sigmas] : p.metadata().tessera.stepSigmas)
      if (steps < 32) info->consistency_steps |= 1u << steps;
    if (info->struct_size >= sizeof(tsr_model_info)) {
      info->stage_count = uint32_t(p.stages().size());
      info->cascade_scale = p.totalScale();
    }
    info->parameter_count = 0;
    info->weight_bytes = 0;
    for (const model::TsrTensor& t : p.tensors()) {
      info->parameter_count += t.elements();
      info->weight_bytes += t.data.size();
    }
    return TSR_SUCCESS;
  });
}

const char* tsr_model_class_name(tsr_model m, uint32_t index) {
  if (!m || index >= m->package.metadata().tessera.classes.size()) return nullptr;
  return m->package.metadata().tessera.classes[index].c_str();
}

tsr_result tsr_model_find_class(tsr_model m, const char* name, uint32_t* index) {
  return guard("tsr_model_find_class", [&] {
    if (!m || !name || !index) fail(ErrorCode::InvalidArgument, "model, name or index is NULL");
    const auto& classes = m->package.metadata().tessera.classes;
    for (uint32_t i = 0; i < classes.size(); ++i)
      if (lower(classes[i]) == lower(name)) {
        *index = i;
        return TSR_SUCCESS;
      }
    std::string known;
    for (const auto& c : classes) known += (known.empty() ? "" : ", ") + c;
    fail(ErrorCode::InvalidArgument,
         "the model has no class \"" + std::string(name) + "\" (it has: " + (known.empty() ? "none" : known) + ")");
  });
}

void tsr_model_destroy(tsr_model m) { delete m; }

}  // extern "C"
