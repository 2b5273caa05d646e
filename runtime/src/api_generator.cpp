// Generators and jobs: the C functions over runtime::Generator.
#include <chrono>
#include <thread>

#include "generator.hpp"
#include "handles.hpp"

using namespace tessera;
using tessera::runtime::checkStruct;
using tessera::runtime::guard;

struct tsr_generator_t {
  std::unique_ptr<runtime::Generator> impl;
};

namespace {

runtime::Generator& gen(tsr_generator g) {
  if (!g) fail(ErrorCode::InvalidArgument, "generator is NULL");
  return *g->impl;
}

void checkPair(tsr_context c, tsr_model m) {
  if (!c) fail(ErrorCode::InvalidArgument, "context is NULL");
  if (!m) fail(ErrorCode::InvalidArgument, "model is NULL");
}

}  // namespace

extern "C" {

void tsr_generator_desc_defaults(tsr_generator_desc* desc) {
  if (!desc) return;
  *desc = {};
  desc->struct_size = sizeof(*desc);
  desc->max_batch = 1;
}

void tsr_memory_requirements_defaults(tsr_memory_requirements* out) {
  if (!out) return;
  *out = {};
  out->struct_size = sizeof(*out);
}

void tsr_request_defaults(tsr_request* r) {
  if (!r) return;
  *r = {};
  r->struct_size = sizeof(*r);
  r->class_index = -1;
  r->guidance = -1.0f;
  r->strength = 1.0f;
  r->output.kind = TSR_OUTPUT_HOST_MEMORY;
  r->output.format = VK_FORMAT_R8G8B8A8_SRGB;
  r->output.final_layout = VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL;
}

void tsr_progress_defaults(tsr_progress* p) {
  if (!p) return;
  *p = {};
  p->struct_size = sizeof(*p);
}

tsr_result tsr_query_memory(tsr_context c, tsr_model m, const tsr_generator_desc* desc, tsr_memory_requirements* out) {
  return guard("tsr_query_memory", [&] {
    checkPair(c, m);
    checkStruct(desc, "tsr_generator_desc");
    checkStruct(out, "tsr_memory_requirements");
    HostMemoryBlock blocks[2];
    tsr_generator_desc plain = *desc;
    plain.device_memory = plain.staging_memory = nullptr;
    const runtime::GeneratorConfig config = runtime::generatorConfig(*c, m->package, plain, blocks);
    const uint32_t size = out->struct_size;
    *out = runtime::Generator::query(*c, m->package, config);
    out->struct_size = size;
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_create(tsr_context c, tsr_model m, const tsr_generator_desc* desc, tsr_generator* out) {
  return guard("tsr_generator_create", [&] {
    checkPair(c, m);
    checkStruct(desc, "tsr_generator_desc");
    if (!out) fail(ErrorCode::InvalidArgument, "out is NULL");
    *out = nullptr;
    HostMemoryBlock blocks[2];
    const runtime::GeneratorConfig config = runtime::generatorConfig(*c, m->package, *desc, blocks);
    auto g = std::make_unique<tsr_generator_t>();
    g->impl = std::make_unique<runtime::Generator>(*c, m->package, config);
    *out = g.release();
    return TSR_SUCCESS;
  });
}

void tsr_generator_destroy(tsr_generator g) { delete g; }

tsr_result tsr_generator_begin(tsr_generator g, const tsr_request* requests, uint32_t count) {
  return guard("tsr_generator_begin", [&] {
    gen(g).begin(requests, count);
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_record(tsr_generator g, VkCommandBuffer cmd) {
  return guard("tsr_generator_record", [&] {
    if (!cmd) fail(ErrorCode::InvalidArgument, "command buffer is VK_NULL_HANDLE");
    gen(g).record(cmd);
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_record_slice(tsr_generator g, VkCommandBuffer cmd, double budget, VkBool32* done) {
  return guard("tsr_generator_record_slice", [&] {
    if (!done) fail(ErrorCode::InvalidArgument, "done is NULL");
    *done = gen(g).recordSlice(cmd, budget) ? VK_TRUE : VK_FALSE;
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_complete(tsr_generator g) {
  return guard("tsr_generator_complete", [&] {
    gen(g).complete();
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_cancel(tsr_generator g) {
  return guard("tsr_generator_cancel", [&] {
    gen(g).cancel();
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_submit(tsr_generator g) {
  return guard("tsr_generator_submit", [&] {
    gen(g).submit();
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generator_query(tsr_generator g) {
  return guard("tsr_generator_query", [&] { return gen(g).poll() ? TSR_SUCCESS : TSR_NOT_READY; });
}

tsr_result tsr_generator_wait(tsr_generator g, uint64_t timeout_ns) {
  return guard("tsr_generator_wait", [&] { return gen(g).wait(timeout_ns) ? TSR_SUCCESS : TSR_NOT_READY; });
}

tsr_result tsr_generator_get_progress(tsr_generator g, tsr_progress* p) {
  return guard("tsr_generator_get_progress", [&] {
    checkStruct(p, "tsr_progress");
    const uint32_t size = p->struct_size;
    *p = gen(g).progress();
    p->struct_size = size;
    return TSR_SUCCESS;
  });
}

tsr_result tsr_generate(tsr_generator g, const tsr_request* requests, uint32_t count, tsr_progress_callback cb,
                        void* user) {
  return guard("tsr_generate", [&] {
    runtime::Generator& x = gen(g);
    x.begin(requests, count);
    try {
      x.submit();
    } catch (...) {
      x.cancel();
      throw;
    }
    // Poll the GPU-written progress word while waiting, so a callback sees each evaluation.
    uint32_t seen = UINT32_MAX;
    const uint64_t slice = cb ? 5'000'000 : UINT64_MAX;  // 5 ms
    for (;;) {
      const bool done = x.wait(slice);
      if (cb) {
        const tsr_progress p = x.progress();
        if (p.evaluations_done != seen || done) {
          seen = p.evaluations_done;
          cb(&p, user);
        }
      }
      if (done) return TSR_SUCCESS;
    }
  });
}

}  // extern "C"
