#pragma once
// The SPIR-V modules compiled from shaders/*.comp at build time.
#include <cstddef>
#include <span>
#include <string_view>

namespace tessera::shaders {

struct Spirv {
  std::string_view name;  // file name without ".comp"
  bool fp16;              // compiled with TS_FP16=1 (16-bit storage)
  const unsigned char* bytes;
  std::size_t size;  // in bytes, a multiple of 4
};

std::span<const Spirv> all();
const Spirv* find(std::string_view name, bool fp16);

}  // namespace tessera::shaders
