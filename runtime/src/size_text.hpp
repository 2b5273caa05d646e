#pragma once
// "WxH", as every size in the runtime's messages is written.
#include <cstdint>
#include <string>

namespace tessera::runtime {

inline std::string sizeStr(uint32_t w, uint32_t h) { return std::to_string(w) + "x" + std::to_string(h); }

}  // namespace tessera::runtime
