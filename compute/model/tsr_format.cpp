#include "tsr_format.hpp"

#include <algorithm>

#include "checksum.hpp"
#include "strict_json.hpp"

namespace tessera::model {
namespace {

// Header fields (byte offsets); docs/FORMAT.md has the table.
constexpr std::size_t kHdrVersion = 8, kHdrHeaderSize = 12, kHdrFileSize = 16, kHdrSectionCount = 24,
                      kHdrFlags = 28, kHdrTableOffset = 32, kHdrTableCrc = 40, kHdrReserved = 44,
                      kHdrCrc = 60;
constexpr uint64_t kTableBytes = uint64_t(kTsrSectionCount) * kTsrSectionEntrySize;
constexpr uint8_t kCodeF32 = 1, kCodeF16 = 2;

const char* sectionName(uint32_t i) {
  static const char* names[] = {"metadata", "tensor index", "tensor data"};
  return i < 3 ? names[i] : "?";
}

std::string hex32(uint32_t v) {
  static const char* d = "0123456789abcdef";
  std::string s = "0x";
  for (int i = 7; i >= 0; --i) s += d[(v >> (4 * i)) & 15];
  return s;
}

std::string printableName(Bytes b) {
  std::string s;
  for (std::byte c : b.first(std::min<std::size_t>(b.size(), 80))) {
    const auto u = std::to_integer<uint8_t>(c);
    s += (u >= 0x21 && u <= 0x7E) ? char(u) : '?';
  }
  return s;
}

bool allZero(Bytes b) {
  return std::all_of(b.begin(), b.end(), [](std::byte c) { return c == std::byte{0}; });
}

void checkPadding(Bytes file, uint64_t from, uint64_t to, const std::string& where) {
  if (!allZero(file.subspan(from, to - from)))
    corrupt("tsr: the alignment padding before the " + where + " holds non-zero bytes");
}

void checkCrc(bool verify, Bytes bytes, uint32_t stored, const std::string& what) {
  if (!verify) return;
  const uint32_t actual = crc32(bytes);
  if (actual != stored)
    corrupt("tsr: " + what + " checksum mismatch (stored " + hex32(stored) + ", computed " + hex32(actual) +
            ")");
}

struct Section {
  uint64_t offset, size;
  uint32_t crc;
};

std::vector<TsrTensor> parseIndex(Bytes index, Bytes data) {
  const FieldReader r(index, "tsr tensor index");
  if (index.size() < kTsrIndexHeaderSize)
    corrupt("tsr: the tensor index has " + std::to_string(index.size()) +
            " bytes, fewer than its 16-byte header");
  const uint32_t count = r.u32(0);
  if (r.u32(4) != 0) corrupt("tsr: the tensor index's reserved field is not zero");
  const uint64_t namesSize = r.u64(8);
  if (count == 0) corrupt("tsr: the tensor index lists no tensors");
  if (count > kTsrMaxTensors)
    corrupt("tsr: the tensor index claims " + std::to_string(count) + " tensors, more than the limit of " +
            std::to_string(kTsrMaxTensors));
  const uint64_t entriesEnd = kTsrIndexHeaderSize + uint64_t(count) * kTsrTensorEntrySize;
  if (namesSize > index.size() || entriesEnd != index.size() - namesSize)
    corrupt("tsr: the tensor index is " + std::to_string(index.size()) + " bytes but " +
            std::to_string(count) + " entries and " + std::to_string(namesSize) + " bytes of names need " +
            (namesSize > index.size() ? "more" : std::to_string(entriesEnd + namesSize)));
  const Bytes names = index.subspan(entriesEnd);

  std::vector<TsrTensor> tensors;
  tensors.reserve(count);
  uint64_t nameAt = 0, dataAt = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const std::size_t e = kTsrIndexHeaderSize + std::size_t(i) * kTsrTensorEntrySize;
    const std::string entry = "tsr: tensor entry " + std::to_string(i);
    const uint32_t nameOffset = r.u32(e + 0);
    const uint16_t nameLength = r.u16(e + 4);
    const uint8_t dtypeCode = r.u8(e + 6);
    const uint8_t rank = r.u8(e + 7);
    if (nameOffset != nameAt)
      corrupt(entry + ": its name does not follow the previous one in the name table");
    if (nameLength == 0 || nameLength > kTsrMaxNameLength)
      corrupt(entry + ": name length " + std::to_string(nameLength) + " is not in [1, 255]");
    if (nameLength > names.size() - nameAt) corrupt(entry + ": its name runs past the name table");
    const Bytes nameBytes = names.subspan(nameAt, nameLength);
    nameAt += nameLength;
    for (std::byte c : nameBytes) {
      const auto u = std::to_integer<uint8_t>(c);
      if (u < 0x21 || u > 0x7E)
        corrupt(entry + " (\"" + printableName(nameBytes) +
                "\"): the name holds a byte that is not printable ASCII");
    }
    TsrTensor t;
    t.name.assign(reinterpret_cast<const char*>(nameBytes.data()), nameBytes.size());
    const std::string where = "tsr: tensor \"" + t.name + "\"";
    if (dtypeCode == kCodeF32)
      t.dtype = DType::F32;
    else if (dtypeCode == kCodeF16)
      t.dtype = DType::F16;
    else
      corrupt(where + ": dtype code " + std::to_string(dtypeCode) + " is neither 1 (f32) nor 2 (f16)");
    if (rank == 0 || rank > kTsrMaxRank)
      corrupt(where + ": rank " + std::to_string(rank) + " is not in [1, 4]");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < kTsrMaxRank; ++d) {
      const uint32_t dim = r.u32(e + 8 + 4 * d);
      if (d < rank) {
        if (dim == 0) corrupt(where + ": dimension " + std::to_string(d) + " is zero");
        t.shape.push_back(dim);
        if (!mulChecked(elements, dim, elements) || elements > (uint64_t(1) << 48))
          corrupt(where + ": shape " + shapeString(t.shape) + " has an absurd element count");
      } else if (dim != 0) {
        corrupt(where + ": dimension " + std::to_string(d) + " lies beyond the rank and is not zero");
      }
    }
    t.offset = r.u64(e + 24);
    const uint64_t size = r.u64(e + 32);
    if (r.u64(e + 40) != 0) corrupt(where + ": the reserved field is not zero");
    const uint64_t need = elements * dtypeSize(t.dtype);
    if (size != need)
      corrupt(where + ": byte size " + std::to_string(size) + " differs from the " + std::to_string(need) +
              " bytes of shape " + shapeString(t.shape) + " in " + dtypeName(t.dtype));
    const uint64_t expected = alignUp(dataAt, kTsrAlignment);
    if (t.offset != expected)
      corrupt(where + ": data offset " + std::to_string(t.offset) + " is not " + std::to_string(expected) +
              ", the first aligned byte after the previous tensor");
    if (t.offset > data.size() || size > data.size() - t.offset)
      corrupt(where + ": bytes [" + std::to_string(t.offset) + ", +" + std::to_string(size) +
              ") lie past the end of the " + std::to_string(data.size()) + "-byte data section");
    if (!allZero(data.subspan(dataAt, t.offset - dataAt)))
      corrupt("tsr: the alignment padding before tensor \"" + t.name + "\" holds non-zero bytes");
    t.data = data.subspan(t.offset, size);
    dataAt = t.offset + size;
    tensors.push_back(std::move(t));
  }
  if (nameAt != names.size())
    corrupt("tsr: the name table has " + std::to_string(names.size() - nameAt) + " unused bytes");
  if (dataAt != data.size())
    corrupt("tsr: the tensor data section has " + std::to_string(data.size() - dataAt) +
            " bytes after the last tensor");
  return tensors;
}

}  // namespace

uint64_t TsrTensor::elements() const {
  uint64_t n = 1;
  for (uint32_t d : shape) n *= d;
  return n;
}

TsrContainer TsrContainer::parse(Bytes file, const TsrReadOptions& options) {
  const bool verify = options.verifyChecksums;
  if (file.size() < kTsrHeaderSize)
    corrupt("tsr: the file has " + std::to_string(file.size()) + " bytes, fewer than the 64-byte header");
  for (std::size_t i = 0; i < kTsrMagic.size(); ++i)
    if (std::to_integer<uint8_t>(file[i]) != kTsrMagic[i])
      corrupt("tsr: bad magic; this is not a tessera model package");
  const FieldReader h(file.first(kTsrHeaderSize), "tsr header");
  TsrContainer c;
  c.version_ = h.u32(kHdrVersion);
  if (c.version_ != kTsrVersion)
    corrupt("tsr: format version " + std::to_string(c.version_) +
            " is not supported (this reader knows version " + std::to_string(kTsrVersion) + ")");
  checkCrc(verify, file.first(kHdrCrc), h.u32(kHdrCrc), "header");
  if (h.u32(kHdrHeaderSize) != kTsrHeaderSize)
    corrupt("tsr: header size " + std::to_string(h.u32(kHdrHeaderSize)) + " is not 64");
  const uint64_t fileSize = h.u64(kHdrFileSize);
  if (fileSize != file.size())
    corrupt("tsr: the header records " + std::to_string(fileSize) + " bytes but the file has " +
            std::to_string(file.size()) + (fileSize > file.size() ? " (truncated)" : " (trailing bytes)"));
  if (h.u32(kHdrSectionCount) != kTsrSectionCount)
    corrupt("tsr: section count " + std::to_string(h.u32(kHdrSectionCount)) + " is not 3");
  if (h.u32(kHdrFlags) != 0) corrupt("tsr: header flags " + hex32(h.u32(kHdrFlags)) + " are not zero");
  if (h.u64(kHdrTableOffset) != kTsrHeaderSize)
    corrupt("tsr: section table offset " + std::to_string(h.u64(kHdrTableOffset)) + " is not 64");
  if (!allZero(file.subspan(kHdrReserved, kHdrCrc - kHdrReserved)))
    corrupt("tsr: reserved header bytes are not zero");
  if (file.size() < kTsrHeaderSize + kTableBytes) corrupt("tsr: the file ends inside the section table");
  const Bytes table = file.subspan(kTsrHeaderSize, kTableBytes);
  checkCrc(verify, table, h.u32(kHdrTableCrc), "section table");

  // Sections follow one another in a fixed order, each at the first aligned byte after the one
  // before, and the last ends the file: every byte of the file is covered by a checksum or is
  // zero padding.
  const FieldReader t(table, "tsr section table");
  Section sections[kTsrSectionCount];
  uint64_t at = kTsrHeaderSize + kTableBytes;
  for (uint32_t i = 0; i < kTsrSectionCount; ++i) {
    const std::size_t e = std::size_t(i) * kTsrSectionEntrySize;
    const std::string name = sectionName(i);
    const uint32_t kind = t.u32(e);
    if (kind != i + 1)
      corrupt("tsr: section " + std::to_string(i) + " has kind " + std::to_string(kind) + ", expected " +
              std::to_string(i + 1) + " (" + name + ")");
    if (t.u32(e + 4) != 0 || t.u32(e + 28) != 0)
      corrupt("tsr: the " + name + " section's flags or reserved field are not zero");
    Section& s = sections[i];
    s.offset = t.u64(e + 8);
    s.size = t.u64(e + 16);
    s.crc = t.u32(e + 24);
    const uint64_t expected = alignUp(at, kTsrAlignment);
    if (s.offset != expected)
      corrupt("tsr: the " + name + " section starts at " + std::to_string(s.offset) + ", not at " +
              std::to_string(expected) + " where the layout puts it");
    if (s.offset > file.size() || s.size > file.size() - s.offset)
      corrupt("tsr: the " + name + " section [" + std::to_string(s.offset) + ", +" + std::to_string(s.size) +
              ") runs past the end of the " + std::to_string(file.size()) + "-byte file");
    checkPadding(file, at, s.offset, name + " section");
    at = s.offset + s.size;
  }
  if (at != file.size())
    corrupt("tsr: " + std::to_string(file.size() - at) + " bytes follow the last section");

  const auto bytesOf = [&](uint32_t i) { return file.subspan(sections[i].offset, sections[i].size); };
  for (uint32_t i = 0; i < kTsrSectionCount; ++i)
    checkCrc(verify, bytesOf(i), sections[i].crc, std::string(sectionName(i)) + " section");

  const Bytes meta = bytesOf(0);
  if (meta.size() > kTsrMaxMetadataBytes)
    corrupt("tsr: the metadata section has " + std::to_string(meta.size()) +
            " bytes, more than the 16 MiB limit");
  c.metadataText_ = asText(meta);
  const Json parsed = parseJsonStrict(c.metadataText_, ErrorCode::CorruptModel, "tsr metadata");
  if (!parsed.is_object()) corrupt("tsr: the metadata is not a JSON object");

  c.tensors_ = parseIndex(bytesOf(1), bytesOf(2));
  for (std::size_t i = 0; i < c.tensors_.size(); ++i)
    if (!c.byName_.emplace(c.tensors_[i].name, i).second)
      corrupt("tsr: tensor \"" + c.tensors_[i].name + "\" is listed twice");
  return c;
}

const TsrTensor* TsrContainer::find(const std::string& name) const {
  const auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : &tensors_[it->second];
}

std::vector<std::byte> writeTsr(std::string_view metadataJson, const std::vector<TsrTensorIn>& tensors) {
  const auto refuse = [](const std::string& m) {
    throw Error(ErrorCode::InvalidArgument, "tsr writer: " + m);
  };
  if (metadataJson.size() > kTsrMaxMetadataBytes) refuse("the metadata exceeds 16 MiB");
  if (!parseJsonStrict(metadataJson, ErrorCode::InvalidArgument, "tsr writer: metadata").is_object())
    refuse("the metadata is not a JSON object");
  if (tensors.empty() || tensors.size() > kTsrMaxTensors) refuse("a package holds 1 to 65536 tensors");

  std::vector<std::byte> index, names;
  FieldWriter iw(index);
  uint64_t namesSize = 0;
  for (const auto& t : tensors) namesSize += t.name.size();
  iw.u32(uint32_t(tensors.size()));
  iw.u32(0);
  iw.u64(namesSize);
  std::map<std::string, int> seen;
  uint64_t dataAt = 0, nameAt = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name.size() > kTsrMaxNameLength)
      refuse("tensor name \"" + t.name + "\" has a bad length");
    for (char ch : t.name)
      if (uint8_t(ch) < 0x21 || uint8_t(ch) > 0x7E)
        refuse("tensor name \"" + t.name + "\" is not printable ASCII");
    if (!seen.emplace(t.name, 0).second) refuse("tensor \"" + t.name + "\" is given twice");
    if (t.shape.empty() || t.shape.size() > kTsrMaxRank)
      refuse("tensor \"" + t.name + "\" has rank outside [1, 4]");
    uint64_t elements = 1;
    for (uint32_t d : t.shape) {
      if (d == 0) refuse("tensor \"" + t.name + "\" has a zero dimension");
      elements *= d;
    }
    if (elements * dtypeSize(t.dtype) != t.data.size())
      refuse("tensor \"" + t.name + "\" has " + std::to_string(t.data.size()) + " bytes for " +
             std::to_string(elements) + " " + dtypeName(t.dtype) + " elements");
    const uint64_t offset = alignUp(dataAt, kTsrAlignment);
    iw.u32(uint32_t(nameAt));
    iw.u16(uint16_t(t.name.size()));
    iw.u8(t.dtype == DType::F32 ? kCodeF32 : kCodeF16);
    iw.u8(uint8_t(t.shape.size()));
    for (uint32_t d = 0; d < kTsrMaxRank; ++d) iw.u32(d < t.shape.size() ? t.shape[d] : 0);
    iw.u64(offset);
    iw.u64(t.data.size());
    iw.u64(0);
    nameAt += t.name.size();
    dataAt = offset + t.data.size();
  }
  for (const auto& t : tensors) iw.bytes(asBytes(t.name));

  // Sections in order: metadata, index, data; each at the first aligned byte after the last.
  const uint64_t metaOffset = alignUp(kTsrHeaderSize + kTableBytes, kTsrAlignment);
  const uint64_t indexOffset = alignUp(metaOffset + metadataJson.size(), kTsrAlignment);
  const uint64_t dataOffset = alignUp(indexOffset + index.size(), kTsrAlignment);
  const uint64_t fileSize = dataOffset + dataAt;

  std::vector<std::byte> out(fileSize, std::byte{0});
  std::copy(metadataJson.begin(), metadataJson.end(), reinterpret_cast<char*>(out.data() + metaOffset));
  std::copy(index.begin(), index.end(), out.begin() + std::ptrdiff_t(indexOffset));
  {
    uint64_t at = 0;
    for (const auto& t : tensors) {
      at = alignUp(at, kTsrAlignment);
      std::copy(t.data.begin(), t.data.end(), out.begin() + std::ptrdiff_t(dataOffset + at));
      at += t.data.size();
    }
  }
  const Section sections[kTsrSectionCount] = {
      {metaOffset, metadataJson.size(), 0}, {indexOffset, index.size(), 0}, {dataOffset, dataAt, 0}};
  std::byte* table = out.data() + kTsrHeaderSize;
  for (uint32_t i = 0; i < kTsrSectionCount; ++i) {
    std::byte* e = table + std::size_t(i) * kTsrSectionEntrySize;
    storeLE(e + 0, i + 1, 4);
    storeLE(e + 8, sections[i].offset, 8);
    storeLE(e + 16, sections[i].size, 8);
    storeLE(e + 24, crc32(Bytes(out.data() + sections[i].offset, sections[i].size)), 4);
  }
  std::byte* hdr = out.data();
  for (std::size_t i = 0; i < kTsrMagic.size(); ++i) hdr[i] = std::byte(kTsrMagic[i]);
  storeLE(hdr + kHdrVersion, kTsrVersion, 4);
  storeLE(hdr + kHdrHeaderSize, kTsrHeaderSize, 4);
  storeLE(hdr + kHdrFileSize, fileSize, 8);
  storeLE(hdr + kHdrSectionCount, kTsrSectionCount, 4);
  storeLE(hdr + kHdrTableOffset, kTsrHeaderSize, 8);
  storeLE(hdr + kHdrTableCrc, crc32(Bytes(table, kTableBytes)), 4);
  storeLE(hdr + kHdrCrc, crc32(Bytes(hdr, kHdrCrc)), 4);
  return out;
}

}  // namespace tessera::model
