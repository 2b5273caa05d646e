#pragma once
// Whole-file reads with a size limit, and writes that never leave a half-written file behind.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "byte_io.hpp"

namespace tessera::model {

// Throws Error(Io) naming the path when it cannot be read or is larger than maxBytes.
std::vector<std::byte> readFileBytes(const std::filesystem::path& path, uint64_t maxBytes);

// Writes to a temporary file beside `path`, flushes it to disk and renames it over `path`, so a
// reader sees either the old file or the complete new one. Throws Error(Io); the temporary file
// is removed on failure.
void writeFileAtomically(const std::filesystem::path& path, Bytes bytes);

}  // namespace tessera::model
