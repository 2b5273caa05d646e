// tessera's last barrier on an output makes its writes visible to what the host does next with
// the layout it asked for (runtime/src/output_barriers.hpp): a transfer read of an image left in
// TRANSFER_SRC_OPTIMAL or GENERAL, or of a buffer output, recorded right after tessera's work in
// the same command buffer with no barrier of the host's in between. Synchronization validation is
// on, so a barrier that covered shader reads only is a SYNC-HAZARD-READ-AFTER-WRITE and fails.
#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

class ApiFinalBarrierTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    host_ = std::make_unique<HostVulkan>(/*validation=*/true, /*syncValidation=*/true);
    submitter_ = std::make_unique<HostSubmitter>(*host_);
    context_ = std::make_unique<ContextPtr>(hostContext(*host_));
    model_ = std::make_unique<ModelPtr>(loadDefaultModel());
    gen_ = std::make_unique<GeneratorPtr>(makeGenerator(context_->get(), model_->get(), GeneratorSpec{32, 32, 1}));
  }
  static void TearDownTestSuite() {
    gen_.reset();
    model_.reset();
    context_.reset();
    submitter_.reset();
    host_.reset();
  }

 protected:
  void SetUp() override { messages_ = host_->messages().size(); }
  void TearDown() override {
    const auto m = host_->messages();
    for (std::size_t i = messages_; i < m.size(); ++i) {
      // Reading an image in GENERAL is the host's choice here; the layer's advice against it is not
      // about tessera's barriers.
      if (m[i].find("UNASSIGNED-CoreValidation-DrawState-InvalidImageLayout") != std::string::npos &&
          m[i].find("instead of GENERAL") != std::string::npos)
        continue;
      ADD_FAILURE() << "Vulkan validation: " << m[i];
    }
  }
  static tsr_generator gen() { return gen_->get(); }
  static HostVulkan& host() { return *host_; }

  // tessera's job, then `after` (the host's reads), in one command buffer; completes the job.
  static void recordThen(const tsr_request& r, const std::function<void(VkCommandBuffer)>& after) {
    TSR_ASSERT_OK(tsr_generator_begin(gen(), &r, 1));
    VkCommandBuffer cmd = submitter_->begin();
    TSR_ASSERT_OK(tsr_generator_record(gen(), cmd));
    after(cmd);
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    host().fn.vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                                   nullptr, 0, nullptr);
    submitter_->submitAndWait(cmd);
    TSR_ASSERT_OK(tsr_generator_complete(gen()));
  }

  static inline std::unique_ptr<HostVulkan> host_;
  static inline std::unique_ptr<HostSubmitter> submitter_;
  static inline std::unique_ptr<ContextPtr> context_;
  static inline std::unique_ptr<ModelPtr> model_;
  static inline std::unique_ptr<GeneratorPtr> gen_;
  std::size_t messages_ = 0;
};

TEST_F(ApiFinalBarrierTest, ImageLeftForTransferReadsIsReadableAtOnce) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("test seed " + std::to_string(seed) + " (TESSERA_TEST_SEED reproduces it)");
  tsr_request r = request(32, 32, seed, 2, 1);
  r.output.format = VK_FORMAT_R8G8B8A8_UNORM;
  const std::vector<uint8_t> want = generateOne(gen(), r);
  for (VkImageLayout layout : {VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, VK_IMAGE_LAYOUT_GENERAL}) {
    SCOPED_TRACE("final layout " + std::to_string(int(layout)));
    const uint32_t levels = fullMipCount(32, 32);
    HostImage image(host(), 32, 32, r.output.format, levels,
                    VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
    HostBuffer readback(host(), 32 * 32 * 4 + 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    std::memset(readback.data(), 0x5A, readback.size());
    tsr_request out = r;
    out.output.kind = TSR_OUTPUT_IMAGE;
    out.output.image = image.image;
    out.output.mip_levels = levels;
    out.output.final_layout = layout;
    // Level 0 and the last level (the one written last), read in the layout tessera left them in.
    recordThen(out, [&](VkCommandBuffer cmd) {
      VkBufferImageCopy c{};
      c.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1};
      c.imageExtent = {32, 32, 1};
      host().fn.vkCmdCopyImageToBuffer(cmd, image.image, layout, readback.buffer, 1, &c);
      c.bufferOffset = 32 * 32 * 4;
      c.imageSubresource.mipLevel = levels - 1;
      c.imageExtent = {1, 1, 1};
      host().fn.vkCmdCopyImageToBuffer(cmd, image.image, layout, readback.buffer, 1, &c);
    });
    EXPECT_EQ(readback.bytes(0, 32 * 32 * 4), want) << firstDifference(readback.bytes(0, 32 * 32 * 4), want);
    EXPECT_EQ(readback.data()[32 * 32 * 4 + 3], 255) << "the last level's alpha";
  }
}

TEST_F(ApiFinalBarrierTest, BufferIsReadableAtOnce) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("test seed " + std::to_string(seed) + " (TESSERA_TEST_SEED reproduces it)");
  tsr_request r = request(16, 16, seed, 4, 1);
  const std::vector<uint8_t> want = generateOne(gen(), r);
  HostBuffer output(host(), 16 * 16 * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT);
  HostBuffer readback(host(), 16 * 16 * 4, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
  std::memset(readback.data(), 0x5A, readback.size());
  tsr_request out = r;
  out.output.kind = TSR_OUTPUT_BUFFER;
  out.output.buffer = output.buffer;
  out.output.offset = 0;
  recordThen(out, [&](VkCommandBuffer cmd) {
    const VkBufferCopy c{0, 0, 16 * 16 * 4};
    host().fn.vkCmdCopyBuffer(cmd, output.buffer, readback.buffer, 1, &c);
  });
  EXPECT_EQ(readback.bytes(0, 16 * 16 * 4), want);
}

}  // namespace
}  // namespace tessera::test::api
