// libFuzzer target: the safetensors reader, and the widening of every tensor it accepts (which
// reads each tensor's bytes, so a wrong bound shows up as an AddressSanitizer report).
#include <cstddef>
#include <cstdint>

#include "safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::model;
  try {
    const SafetensorsFile f = SafetensorsFile::parse(Bytes(reinterpret_cast<const std::byte*>(data), size));
    for (const SafeTensor& t : f.tensors()) (void)toFloat32(t);
  } catch (const tessera::Error&) {
  }
  return 0;
}
