// libFuzzer target: the .tsr package reader, container and model level. The only acceptable
// outcomes are a package or a tessera::Error; anything else (another exception, a sanitizer
// report, a crash) is a finding.
#include <cstddef>
#include <cstdint>

#include "model_package.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera::model;
  const Bytes bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    TsrContainer::parse(bytes);
  } catch (const tessera::Error&) {
  }
  // A mutated byte almost always breaks a checksum first; with checksums off the fuzzer
  // reaches the structural and semantic checks behind them.
  try {
    const ModelPackage p = ModelPackage::fromBytes(bytes, TsrReadOptions{false});
    for (const TsrTensor& t : p.tensors()) (void)toFloat32(t);
  } catch (const tessera::Error&) {
  }
  return 0;
}
