#include "dispatch_timer.hpp"

#include <string>

#include "error.hpp"

namespace tessera::bench {

DispatchTimer::DispatchTimer(const vk::Gpu& gpu, uint32_t maxDispatches) : gpu_(gpu), capacity_(maxDispatches) {
  if (gpu.facts.timestampPeriodNs <= 0) return;
  VkQueryPoolCreateInfo qi{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
  qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
  qi.queryCount = maxDispatches + 1;
  TESSERA_VK_CHECK(gpu.fn.vkCreateQueryPool(gpu.device, &qi, nullptr, &pool_));
}

DispatchTimer::~DispatchTimer() {
  if (pool_) gpu_.fn.vkDestroyQueryPool(gpu_.device, pool_, nullptr);
}

std::vector<double> DispatchTimer::run(vk::Submitter& submit, const Program& program) {
  if (!available()) fail(ErrorCode::Unsupported, "the device's compute queue has no timestamps");
  const std::size_t n = program.size();
  if (n > capacity_)
    fail(ErrorCode::InvalidArgument, "the program has " + std::to_string(n) + " dispatches; the timer holds " +
                                         std::to_string(capacity_));
  const vk::Functions& fn = gpu_.fn;
  const uint32_t queries = uint32_t(n + 1);
  submit.run([&](VkCommandBuffer cmd) {
    fn.vkCmdResetQueryPool(cmd, pool_, 0, queries);
    fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, pool_, 0);
    for (std::size_t i = 0; i < n; ++i) {
      program.record(cmd, i, 1);  // its barrier before the dispatch, as a whole recording has
      fn.vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool_, uint32_t(i + 1));
    }
  });
  std::vector<uint64_t> ts(queries);
  TESSERA_VK_CHECK(fn.vkGetQueryPoolResults(gpu_.device, pool_, 0, queries, ts.size() * sizeof(uint64_t), ts.data(),
                                            sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
  const double toMs = gpu_.facts.timestampPeriodNs * 1e-6;
  std::vector<double> ms(n);
  for (std::size_t i = 0; i < n; ++i) ms[i] = double(ts[i + 1] - ts[i]) * toMs;
  return ms;
}

}  // namespace tessera::bench
