#pragma once
// CRC-32 (the zlib / PNG / gzip polynomial) of a byte range, through zlib.
#include <cstdint>

#include "byte_io.hpp"

namespace tessera::model {

uint32_t crc32(Bytes bytes);

}  // namespace tessera::model
