// libFuzzer target: config.json text -> strict JSON -> UNet2DModel subset + tessera section ->
// layout and tensor list; what is accepted must also survive its own canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model_metadata.hpp"
#include "unet_layout.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  using namespace tessera::model;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const Json j = parseJsonStrict(text, ErrorCode::InvalidArgument, "config.json");
    const SourceConfig c = parseSourceConfig(j);
    const UnetLayout layout = UnetLayout::derive(c.unet);
    (void)layout.tensors();
    // Canonical forms are fixed points; a difference means toJson lost or bent a value.
    const Json canon = c.unet.toJson();
    if (UnetConfig::fromJson(canon).toJson() != canon) std::abort();
    const Json section = c.tessera.toJson();
    if (TesseraSection::fromJson(section, c.unet).toJson() != section) std::abort();
  } catch (const Error&) {
  }
  try {
    (void)checkNoiseSchedule(parseJsonStrict(text, ErrorCode::InvalidArgument, "scheduler_config.json"));
  } catch (const Error&) {
  }
  return 0;
}
