#include "checksum.hpp"

#include <zlib.h>

namespace tessera::model {

uint32_t crc32(Bytes bytes) {
  // crc32_z takes a size_t length, so a range over 4 GiB needs no chunking.
  uLong c = ::crc32_z(0L, Z_NULL, 0);
  c = ::crc32_z(c, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
  return uint32_t(c);
}

}  // namespace tessera::model
