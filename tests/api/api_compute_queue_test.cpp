// Textures on a compute-only queue: every output kind and format, mips included, recorded into
// the host's command buffer and submitted on tessera's own queue, with no graphics-only command
// (blit, clear, draw, render pass...) recorded and no graphics object made — counted through the
// host's vkGetDeviceProcAddr (tests/support/counting_vulkan.hpp), since lavapipe's one queue
// family can do everything. Synchronization validation is on. Each mip level is checked against
// a double-precision linear-light box of the level above as read back, so the end-to-end chain
// (encode, mip shaders, copies) is proven, not only the op.
#include <cmath>
#include <map>

#include "api_fixtures.hpp"

namespace tessera::test::api {
namespace {

class ApiComputeQueueTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    host_ = std::make_unique<HostVulkan>(/*validation=*/true, /*syncValidation=*/true);
    counting::gRealGetDeviceProcAddr = host_->fn.vkGetDeviceProcAddr;
    submitter_ = std::make_unique<HostSubmitter>(*host_);
    context_ = std::make_unique<ContextPtr>(hostContext(*host_, &counting::getDeviceProcAddr));
    model_ = std::make_unique<ModelPtr>(loadDefaultModel());
    GeneratorSpec spec{32, 32, 2};
    spec.prepared = {{32, 32, 2}, {32, 32, 1}, {32, 16, 1}};
    gen_ = std::make_unique<GeneratorPtr>(makeGenerator(context_->get(), model_->get(), spec));
  }
  static void TearDownTestSuite() {
    gen_.reset();
    model_.reset();
    context_.reset();
    submitter_.reset();
    host_.reset();
  }

 protected:
  void SetUp() override {
    messages_ = host_->messages().size();
    before_ = counting::counts();
  }
  void TearDown() override {
    EXPECT_EQ(counting::graphicsCalls(before_, counting::counts()), "") << "graphics-only calls were made";
    const auto m = host_->messages();
    for (std::size_t i = messages_; i < m.size(); ++i) {
      // Reading an image left in GENERAL is this test's choice; the layer's advice is not about tessera.
      if (m[i].find("UNASSIGNED-CoreValidation-DrawState-InvalidImageLayout") != std::string::npos &&
          m[i].find("instead of GENERAL") != std::string::npos)
        continue;
      ADD_FAILURE() << "Vulkan validation: " << m[i];
    }
  }
  static tsr_generator gen() { return gen_->get(); }
  static HostVulkan& host() { return *host_; }

  static inline std::unique_ptr<HostVulkan> host_;
  static inline std::unique_ptr<HostSubmitter> submitter_;
  static inline std::unique_ptr<ContextPtr> context_;
  static inline std::unique_ptr<ModelPtr> model_;
  static inline std::unique_ptr<GeneratorPtr> gen_;
  std::size_t messages_ = 0;
  counting::Counts before_{};
};

// Linear light of one channel of one pixel of a level as read back.
double lightOf(const std::vector<uint8_t>& level, VkFormat f, std::size_t pixel, int c) {
  if (f == VK_FORMAT_R16G16B16A16_SFLOAT) {
    uint16_t h;
    std::memcpy(&h, level.data() + pixel * 8 + c * 2, 2);
    return halfToFloat(h);
  }
  const double b = level[pixel * 4 + c] / 255.0;
  return c == 3 ? b : srgbToLinear(b);
}

// Level l (dw x dh) against the box filter of level l - 1 (sw x sh), each destination texel the
// coverage-weighted mean of its footprint, in double.
void expectBoxOfAbove(const std::vector<uint8_t>& above, uint32_t sw, uint32_t sh, const std::vector<uint8_t>& level,
                      uint32_t dw, uint32_t dh, VkFormat f) {
  for (uint32_t y = 0; y < dh; ++y)
    for (uint32_t x = 0; x < dw; ++x)
      for (int c = 0; c < 4; ++c) {
        double sum = 0;
        const double x0 = double(x) * sw / dw, x1 = double(x + 1) * sw / dw;
        const double y0 = double(y) * sh / dh, y1 = double(y + 1) * sh / dh;
        for (uint32_t sy = uint32_t(y0); sy < sh && sy < y1; ++sy)
          for (uint32_t sx = uint32_t(x0); sx < sw && sx < x1; ++sx) {
            const double cover = (std::min<double>(x1, sx + 1) - std::max<double>(x0, sx)) *
                                 (std::min<double>(y1, sy + 1) - std::max<double>(y0, sy));
            sum += cover * lightOf(above, f, std::size_t(sy) * sw + sx, c);
          }
        const double mean = sum / ((x1 - x0) * (y1 - y0));
        const std::size_t px = std::size_t(y) * dw + x;
        if (f == VK_FORMAT_R16G16B16A16_SFLOAT) {
          const double got = lightOf(level, f, px, c);
          ASSERT_LE(std::abs(got - mean), std::abs(mean) * 1e-3 + 1e-6) << "pixel " << px << " channel " << c;
        } else {
          const double want = (c == 3 ? mean : linearToSrgb(mean)) * 255.0;
          const double err = std::abs(level[px * 4 + c] - want);
          ASSERT_LE(err, 0.5 + 2e-3) << "pixel " << px << " channel " << c << ": not the nearest byte";
        }
      }
}

TEST_F(ApiComputeQueueTest, MipChainsAreComputeAndCopiesOnly) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::map<uint64_t, std::vector<std::vector<uint8_t>>> rgba8Levels;  // by request seed: _SRGB's levels
  for (VkFormat format : {VK_FORMAT_R8G8B8A8_SRGB, VK_FORMAT_R8G8B8A8_UNORM, VK_FORMAT_R16G16B16A16_SFLOAT})
    for (VkImageLayout layout : {VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                                 VK_IMAGE_LAYOUT_GENERAL}) {
      SCOPED_TRACE("format " + std::to_string(int(format)) + " layout " + std::to_string(int(layout)));
      const std::size_t ps = pixelSize(format);
      // Two images in one batch (each reads its own part of the arena's chain), 32x32, every level.
      const uint32_t levels = fullMipCount(32, 32);
      std::vector<std::unique_ptr<HostImage>> images;
      std::vector<tsr_request> reqs;
      for (uint64_t k = 0; k < 2; ++k) {
        images.push_back(std::make_unique<HostImage>(host(), 32, 32, format, levels,
                                                     VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT |
                                                         VK_IMAGE_USAGE_SAMPLED_BIT));
        tsr_request r = request(32, 32, seed + k, int32_t(k), 1);
        r.output.format = format;
        reqs.push_back(r);
      }
      const std::vector<std::vector<uint8_t>> hostMemory = generate(gen(), reqs);
      for (uint64_t k = 0; k < 2; ++k) {
        reqs[k].output.kind = TSR_OUTPUT_IMAGE;
        reqs[k].output.image = images[k]->image;
        reqs[k].output.mip_levels = levels;
        reqs[k].output.final_layout = layout;
      }
      const bool ownQueue = layout == VK_IMAGE_LAYOUT_GENERAL;  // tessera's own submission, once per format
      if (ownQueue) {
        TSR_ASSERT_OK(tsr_generate(gen(), reqs.data(), 2, nullptr, nullptr));
      } else {
        TSR_ASSERT_OK(tsr_generator_begin(gen(), reqs.data(), 2));
        submitter_->run([&](VkCommandBuffer cmd) { TSR_ASSERT_OK(tsr_generator_record(gen(), cmd)); });
        TSR_ASSERT_OK(tsr_generator_complete(gen()));
      }
      for (uint64_t k = 0; k < 2; ++k) {
        SCOPED_TRACE("image " + std::to_string(k));
        HostBuffer readback(host(), 32 * 32 * ps * 2, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
        std::memset(readback.data(), poisonByte(format), readback.size());
        std::vector<VkDeviceSize> at;
        submitter_->run([&](VkCommandBuffer cmd) { at = images[k]->recordReadback(cmd, levels, layout, readback); });
        std::vector<std::vector<uint8_t>> level;
        for (uint32_t l = 0; l < levels; ++l)
          level.push_back(readback.bytes(at[l], std::size_t(images[k]->levelWidth(l)) * images[k]->levelHeight(l) * ps));
        EXPECT_EQ(level[0], hostMemory[k]) << "level 0 is the host-memory output: "
                                           << firstDifference(level[0], hostMemory[k]);
        for (uint32_t l = 1; l < levels; ++l) {
          SCOPED_TRACE("level " + std::to_string(l));
          expectBoxOfAbove(level[l - 1], 32u >> (l - 1), 32u >> (l - 1), level[l], 32u >> l, 32u >> l, format);
        }
        // _UNORM holds the same sRGB-encoded bytes as _SRGB, mips included (docs/API.md).
        if (format == VK_FORMAT_R8G8B8A8_SRGB) rgba8Levels[seed + k + 1000 * uint64_t(layout)] = level;
        if (format == VK_FORMAT_R8G8B8A8_UNORM) {
          const auto& srgb = rgba8Levels.at(seed + k + 1000 * uint64_t(layout));
          for (uint32_t l = 0; l < levels; ++l) EXPECT_EQ(level[l], srgb[l]) << "level " << l;
        }
      }
    }
}

// A non-square image with a 1-texel axis at the end, with no usage but TRANSFER_DST (what
// tsr_device_requirements.output_image_usage states; GENERAL asks for no other): mips need no
// TRANSFER_SRC, no blit.
TEST_F(ApiComputeQueueTest, ImagesNeedOnlyTransferDst) {
  tsr_device_requirements req;
  tsr_device_requirements_defaults(&req);
  TSR_ASSERT_OK(tsr_get_device_requirements(&req));
  const uint32_t levels = fullMipCount(32, 16);
  ASSERT_EQ(levels, 6u);
  HostImage image(host(), 32, 16, VK_FORMAT_R8G8B8A8_SRGB, levels, req.output_image_usage);
  tsr_request r = request(32, 16, freshSeed(), 2, 1);
  r.output.kind = TSR_OUTPUT_IMAGE;
  r.output.image = image.image;
  r.output.mip_levels = levels;
  r.output.final_layout = VK_IMAGE_LAYOUT_GENERAL;
  TSR_ASSERT_OK(tsr_generator_begin(gen(), &r, 1));
  submitter_->run([&](VkCommandBuffer cmd) { TSR_ASSERT_OK(tsr_generator_record(gen(), cmd)); });
  TSR_ASSERT_OK(tsr_generator_complete(gen()));
}

}  // namespace
}  // namespace tessera::test::api
