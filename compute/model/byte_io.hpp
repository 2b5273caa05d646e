#pragma once
// Little-endian field access and overflow-checked arithmetic for the model readers. Every read
// goes through a bounds check, so a reader cannot look past the buffer it was given, whatever
// the bytes claim.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"

namespace tessera::model {

using Bytes = std::span<const std::byte>;

[[noreturn]] inline void corrupt(const std::string& message) {
  throw Error(ErrorCode::CorruptModel, message);
}

inline uint64_t loadLE(const std::byte* p, std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v |= uint64_t(std::to_integer<uint8_t>(p[i])) << (8 * i);
  return v;
}

inline void storeLE(std::byte* p, uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) p[i] = std::byte(uint8_t(v >> (8 * i)));
}

// Reads fixed-size fields of a region; `what` names the region in every error.
class FieldReader {
 public:
  FieldReader(Bytes bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}
  uint8_t u8(std::size_t at) const { return uint8_t(load(at, 1)); }
  uint16_t u16(std::size_t at) const { return uint16_t(load(at, 2)); }
  uint32_t u32(std::size_t at) const { return uint32_t(load(at, 4)); }
  uint64_t u64(std::size_t at) const { return load(at, 8); }
  std::size_t size() const { return bytes_.size(); }

 private:
  uint64_t load(std::size_t at, std::size_t n) const {
    if (at > bytes_.size() || n > bytes_.size() - at)
      corrupt(what_ + ": a field at byte " + std::to_string(at) + " lies past its end (" +
              std::to_string(bytes_.size()) + " bytes)");
    return loadLE(bytes_.data() + at, n);
  }
  Bytes bytes_;
  std::string what_;
};

// Appends little-endian fields; used by the writers.
class FieldWriter {
 public:
  explicit FieldWriter(std::vector<std::byte>& out) : out_(out) {}
  void u8(uint8_t v) { put(v, 1); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(Bytes b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void zeros(std::size_t n) { out_.resize(out_.size() + n, std::byte{0}); }

 private:
  void put(uint64_t v, std::size_t n) {
    const std::size_t at = out_.size();
    out_.resize(at + n);
    storeLE(out_.data() + at, v, n);
  }
  std::vector<std::byte>& out_;
};

// a + b and a * b, or false when the result does not fit in 64 bits.
inline bool addChecked(uint64_t a, uint64_t b, uint64_t& out) {
  if (a > std::numeric_limits<uint64_t>::max() - b) return false;
  out = a + b;
  return true;
}
inline bool mulChecked(uint64_t a, uint64_t b, uint64_t& out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  out = a * b;
  return true;
}

template <class Int>
std::string shapeString(const std::vector<Int>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

inline uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

inline Bytes asBytes(const std::vector<std::byte>& v) { return Bytes(v.data(), v.size()); }
inline Bytes asBytes(std::string_view s) {
  return Bytes(reinterpret_cast<const std::byte*>(s.data()), s.size());
}
inline std::string_view asText(Bytes b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

}  // namespace tessera::model
