#include "safetensors.hpp"

#include <algorithm>
#include <bit>

#include "half.hpp"

namespace tessera::model {
namespace {

// The reference implementation refuses headers over 100 MB; so does this reader.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::size_t kMaxRank = 8;

std::string quoted(const std::string& s) {
  return "\"" + s.substr(0, 120) + (s.size() > 120 ? "...\"" : "\"");
}

SafeDType parseDType(const std::string& tensor, const Json& v) {
  if (!v.is_string()) corrupt("safetensors: tensor " + quoted(tensor) + ": \"dtype\" is not a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s == "F32") return SafeDType::F32;
  if (s == "F16") return SafeDType::F16;
  if (s == "BF16") return SafeDType::BF16;
  if (s == "I32") return SafeDType::I32;
  if (s == "I64") return SafeDType::I64;
  static const char* known[] = {"F64", "I16", "I8",   "U8",      "U16",
                                "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"};
  const bool isKnown = std::find(std::begin(known), std::end(known), s) != std::end(known);
  throw Error(isKnown ? ErrorCode::Unsupported : ErrorCode::CorruptModel,
              "safetensors: tensor " + quoted(tensor) + " has dtype " + quoted(s) +
                  (isKnown ? ", which tessera does not read (F32, F16, BF16, I32 or I64 only)"
                           : ", which is not a safetensors dtype"));
}

uint64_t getOffset(const std::string& tensor, const Json& v) {
  if (!isUnsignedInteger(v))
    corrupt("safetensors: tensor " + quoted(tensor) + ": data_offsets holds " + jsonShort(v));
  return v.get<uint64_t>();
}

}  // namespace

const char* safeDTypeName(SafeDType t) {
  switch (t) {
    case SafeDType::F32:
      return "F32";
    case SafeDType::F16:
      return "F16";
    case SafeDType::BF16:
      return "BF16";
    case SafeDType::I32:
      return "I32";
    case SafeDType::I64:
      return "I64";
  }
  return "?";
}

std::size_t safeDTypeSize(SafeDType t) {
  switch (t) {
    case SafeDType::F16:
    case SafeDType::BF16:
      return 2;
    case SafeDType::F32:
    case SafeDType::I32:
      return 4;
    case SafeDType::I64:
      return 8;
  }
  return 0;
}

bool isIntegerDType(SafeDType t) { return t == SafeDType::I32 || t == SafeDType::I64; }

uint64_t SafeTensor::elements() const {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;  // validated not to overflow at parse time
  return n;
}

SafetensorsFile SafetensorsFile::parse(Bytes bytes) {
  if (bytes.size() < 8)
    corrupt("safetensors: the file has " + std::to_string(bytes.size()) +
            " bytes, fewer than the 8-byte header length");
  const uint64_t headerLen = loadLE(bytes.data(), 8);
  if (headerLen > kMaxHeaderBytes)
    corrupt("safetensors: header length " + std::to_string(headerLen) + " exceeds the 100 MB limit");
  if (headerLen > bytes.size() - 8)
    corrupt("safetensors: header length " + std::to_string(headerLen) + " runs past the end of the " +
            std::to_string(bytes.size()) + "-byte file");
  const std::string_view headerText = asText(bytes.subspan(8, headerLen));
  if (headerText.empty() || headerText.front() != '{')
    corrupt("safetensors: the header does not start with '{'");
  const Json header = parseJsonStrict(headerText, ErrorCode::CorruptModel, "safetensors header");
  if (!header.is_object()) corrupt("safetensors: the header is not a JSON object");

  const Bytes data = bytes.subspan(8 + headerLen);
  SafetensorsFile f;
  struct Range {
    uint64_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) corrupt("safetensors: \"__metadata__\" is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) corrupt("safetensors: __metadata__ value of " + quoted(k) + " is not a string");
        f.metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    if (name.empty()) corrupt("safetensors: a tensor has an empty name");
    if (!entry.is_object()) corrupt("safetensors: tensor " + quoted(name) + " is not described by an object");
    for (const auto& [k, v] : entry.items())
      if (k != "dtype" && k != "shape" && k != "data_offsets")
        corrupt("safetensors: tensor " + quoted(name) + " has an unknown field " + quoted(k));
    if (!entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      corrupt("safetensors: tensor " + quoted(name) + " lacks one of \"dtype\", \"shape\", \"data_offsets\"");
    SafeTensor t;
    t.name = name;
    t.dtype = parseDType(name, entry["dtype"]);
    const Json& shape = entry["shape"];
    if (!shape.is_array() || shape.size() > kMaxRank)
      corrupt("safetensors: tensor " + quoted(name) + ": \"shape\" is not a list of at most 8 sizes");
    uint64_t count = 1;
    for (const Json& d : shape) {
      if (!isUnsignedInteger(d))
        corrupt("safetensors: tensor " + quoted(name) + ": shape holds " + jsonShort(d));
      t.shape.push_back(d.get<uint64_t>());
      if (!mulChecked(count, t.shape.back(), count))
        corrupt("safetensors: tensor " + quoted(name) + ": the element count overflows 64 bits");
    }
    uint64_t nbytes = 0;
    if (!mulChecked(count, safeDTypeSize(t.dtype), nbytes))
      corrupt("safetensors: tensor " + quoted(name) + ": the byte size overflows 64 bits");
    const Json& offs = entry["data_offsets"];
    if (!offs.is_array() || offs.size() != 2)
      corrupt("safetensors: tensor " + quoted(name) + ": \"data_offsets\" is not [begin, end]");
    const uint64_t begin = getOffset(name, offs[0]), end = getOffset(name, offs[1]);
    if (end < begin)
      corrupt("safetensors: tensor " + quoted(name) + ": data_offsets [" + std::to_string(begin) + ", " +
              std::to_string(end) + "] end before they begin");
    if (end > data.size())
      corrupt("safetensors: tensor " + quoted(name) + ": data_offsets end " + std::to_string(end) +
              " lies past the " + std::to_string(data.size()) + " data bytes");
    if (end - begin != nbytes)
      corrupt("safetensors: tensor " + quoted(name) + ": shape " + jsonShort(shape) + " of " +
              safeDTypeName(t.dtype) + " needs " + std::to_string(nbytes) + " bytes but data_offsets span " +
              std::to_string(end - begin));
    t.data = data.subspan(begin, end - begin);
    ranges.push_back({begin, end, f.tensors_.size()});
    f.tensors_.push_back(std::move(t));
  }
  // As the reference implementation: the tensors tile the data section exactly, so no byte is
  // shared by two tensors and none is left unaccounted for.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  for (const Range& r : ranges) {
    const std::string& name = f.tensors_[r.index].name;
    if (r.begin < at) corrupt("safetensors: tensor " + quoted(name) + " overlaps the tensor before it");
    if (r.begin > at)
      corrupt("safetensors: a gap of " + std::to_string(r.begin - at) + " bytes precedes tensor " +
              quoted(name));
    at = r.end;
  }
  if (at != data.size())
    corrupt("safetensors: " + std::to_string(data.size() - at) + " bytes follow the last tensor");
  std::sort(f.tensors_.begin(), f.tensors_.end(),
            [](const SafeTensor& a, const SafeTensor& b) { return a.name < b.name; });
  return f;
}

const SafeTensor* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const SafeTensor& t, const std::string& n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

std::vector<float> toFloat32(const SafeTensor& t) {
  if (isIntegerDType(t.dtype))
    throw Error(ErrorCode::Unsupported, "safetensors: tensor " + quoted(t.name) + " holds " +
                                            safeDTypeName(t.dtype) +
                                            " integers where floating-point values (F32, F16 or BF16) are needed");
  const std::size_t n = std::size_t(t.data.size() / safeDTypeSize(t.dtype));
  std::vector<float> out(n);
  const std::byte* p = t.data.data();
  for (std::size_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case SafeDType::F32:
        out[i] = std::bit_cast<float>(uint32_t(loadLE(p + 4 * i, 4)));
        break;
      case SafeDType::F16:
        out[i] = halfToFloat(uint16_t(loadLE(p + 2 * i, 2)));
        break;
      case SafeDType::BF16:
        out[i] = bfloat16ToFloat(uint16_t(loadLE(p + 2 * i, 2)));
        break;
      case SafeDType::I32:
      case SafeDType::I64:
        break;  // refused above
    }
  }
  return out;
}

std::vector<int64_t> toInt64(const SafeTensor& t) {
  if (!isIntegerDType(t.dtype))
    throw Error(ErrorCode::Unsupported, "safetensors: tensor " + quoted(t.name) + " holds " +
                                            safeDTypeName(t.dtype) + " values where integers (I32 or I64) are needed");
  const std::size_t size = safeDTypeSize(t.dtype);
  const std::size_t n = std::size_t(t.data.size() / size);
  std::vector<int64_t> out(n);
  const std::byte* p = t.data.data();
  for (std::size_t i = 0; i < n; ++i) {
    const uint64_t bits = loadLE(p + size * i, size);
    // Two's complement: I32 sign-extends through int32_t, I64 is the bit pattern itself.
    out[i] = t.dtype == SafeDType::I32 ? int64_t(int32_t(uint32_t(bits))) : std::bit_cast<int64_t>(bits);
  }
  return out;
}

std::vector<std::byte> writeSafetensors(const std::vector<SafeTensorIn>& tensors,
                                        const std::map<std::string, std::string>& metadata) {
  std::vector<const SafeTensorIn*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
  Json header = Json::object();
  uint64_t offset = 0;
  for (const SafeTensorIn* t : sorted) {
    header[t->name] = {{"dtype", safeDTypeName(t->dtype)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->data.size()}}};
    offset += t->data.size();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::vector<std::byte> out;
  FieldWriter w(out);
  w.u64(text.size());
  w.bytes(asBytes(text));
  for (const SafeTensorIn* t : sorted) w.bytes(asBytes(t->data));
  return out;
}

}  // namespace tessera::model
