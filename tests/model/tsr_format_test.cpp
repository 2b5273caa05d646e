// The .tsr container: what the writer writes the reader reads back exactly; every kind of
// damage is refused with a CorruptModel error that names it, never a crash or a read past the
// buffer (the fuzz targets in tests/fuzz push the same code much further).
#include "tsr_format.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "checksum.hpp"
#include "file_io.hpp"
#include "model_fixtures.hpp"
#include "model_package.hpp"
#include "op_harness.hpp"

namespace tessera::model {
namespace {

using test::expectError;
using test::freshSeed;

struct Built {
  std::vector<std::vector<std::byte>> storage;
  std::vector<TsrTensorIn> tensors;
};

Built randomTensors(std::mt19937_64& rng, int count) {
  Built b;
  std::uniform_int_distribution<uint32_t> dim(1, 13), rank(1, 4), byte(0, 255);
  for (int i = 0; i < count; ++i) {
    TsrTensorIn t;
    t.name = "blocks." + std::to_string(i) + (i % 2 ? ".weight" : ".bias");
    t.dtype = i % 3 == 0 ? DType::F16 : DType::F32;
    const uint32_t r = rank(rng);
    std::size_t n = 1;
    for (uint32_t d = 0; d < r; ++d) {
      t.shape.push_back(dim(rng));
      n *= t.shape.back();
    }
    std::vector<std::byte> data(n * dtypeSize(t.dtype));
    for (auto& x : data) x = std::byte(byte(rng));
    b.storage.push_back(std::move(data));
    t.data = asBytes(b.storage.back());
    b.tensors.push_back(t);
  }
  return b;
}

// Recomputes every checksum after a test has patched a field, so the structural check behind
// the checksum is what must catch the damage.
void reseal(std::vector<std::byte>& f) {
  for (uint32_t i = 0; i < kTsrSectionCount; ++i) {
    std::byte* e = f.data() + kTsrHeaderSize + i * kTsrSectionEntrySize;
    const uint64_t off = loadLE(e + 8, 8), size = loadLE(e + 16, 8);
    if (off <= f.size() && size <= f.size() - off) storeLE(e + 24, crc32(Bytes(f.data() + off, size)), 4);
  }
  storeLE(f.data() + 40, crc32(Bytes(f.data() + kTsrHeaderSize, kTsrSectionCount * kTsrSectionEntrySize)), 4);
  storeLE(f.data() + 60, crc32(Bytes(f.data(), 60)), 4);
}

uint64_t sectionOffset(const std::vector<std::byte>& f, uint32_t i) {
  return loadLE(f.data() + kTsrHeaderSize + i * kTsrSectionEntrySize + 8, 8);
}

void expectCorrupt(const std::vector<std::byte>& f, const std::string& needle, bool verify = true) {
  expectError([&] { TsrContainer::parse(asBytes(f), TsrReadOptions{verify}); }, ErrorCode::CorruptModel,
              needle);
}

TEST(TsrFormat, RoundTripKeepsEveryByteNameDtypeAndShape) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Built b = randomTensors(rng, 13);
  const std::string meta = R"({"architecture": {"x": [1, 2, 3]}, "note": "é"})";
  const std::vector<std::byte> file = writeTsr(meta, b.tensors);
  const TsrContainer c = TsrContainer::parse(asBytes(file));
  EXPECT_EQ(c.version(), kTsrVersion);
  EXPECT_EQ(c.metadataText(), meta);
  ASSERT_EQ(c.tensors().size(), b.tensors.size());
  for (std::size_t i = 0; i < b.tensors.size(); ++i) {
    const TsrTensor& t = c.tensors()[i];
    EXPECT_EQ(t.name, b.tensors[i].name);
    EXPECT_EQ(t.dtype, b.tensors[i].dtype);
    EXPECT_EQ(t.shape, b.tensors[i].shape);
    EXPECT_EQ(t.offset % kTsrAlignment, 0u);
    EXPECT_EQ((sectionOffset(file, 2) + t.offset) % kTsrAlignment, 0u);
    ASSERT_EQ(t.data.size(), b.tensors[i].data.size());
    EXPECT_TRUE(std::equal(t.data.begin(), t.data.end(), b.tensors[i].data.begin())) << t.name;
    EXPECT_EQ(c.find(t.name), &t);
  }
  EXPECT_EQ(c.find("absent"), nullptr);
}

TEST(TsrFormat, EveryTruncationIsRefused) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> file = fixtures::tinyPackage(rng);
  for (std::size_t n = 0; n < file.size(); ++n) {
    const std::vector<std::byte> cut(file.begin(), file.begin() + std::ptrdiff_t(n));
    try {
      TsrContainer::parse(asBytes(cut));
      FAIL() << "a package cut to " << n << " of " << file.size() << " bytes was accepted";
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::CorruptModel) << e.what();
    }
  }
  expectCorrupt(std::vector<std::byte>(file.begin(), file.begin() + 10), "fewer than the 64-byte header");
  expectCorrupt(std::vector<std::byte>(file.begin(), file.end() - 1), "(truncated)");
}

TEST(TsrFormat, EverySingleBitFlipIsDetected) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> file = fixtures::tinyPackage(rng);
  std::vector<std::byte> f = file;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::byte bit{uint8_t(1u << (i % 8))};
    f[i] ^= bit;
    try {
      TsrContainer::parse(asBytes(f));
      FAIL() << "a flip of bit " << i % 8 << " of byte " << i << " went unnoticed";
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::CorruptModel) << e.what();
    }
    f[i] ^= bit;
  }
}

// Without the checksums, a damaged header, table, metadata or index must still be refused
// cleanly or read as a valid (different) package, never crash.
TEST(TsrFormat, ByteDamageBehindTheChecksumsNeverCrashes) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> file = fixtures::tinyPackage(rng);
  const uint64_t dataStart = sectionOffset(file, 2);
  std::vector<std::byte> f = file;
  int refused = 0;
  for (std::size_t i = 0; i < dataStart; ++i) {
    for (uint8_t v : {uint8_t(0x00), uint8_t(0xFF), uint8_t(std::to_integer<uint8_t>(file[i]) ^ 0x10)}) {
      f[i] = std::byte(v);
      try {
        ModelPackage::fromBytes(asBytes(f), TsrReadOptions{false});
      } catch (const Error& e) {
        ASSERT_EQ(e.code(), ErrorCode::CorruptModel) << "byte " << i << ": " << e.what();
        ++refused;
      }
    }
    f[i] = file[i];
  }
  EXPECT_GT(refused, int(dataStart));  // most damage is structural, not a harmless digit change
}

TEST(TsrFormat, WrongMagicAndVersionAreNamed) {
  std::mt19937_64 rng(freshSeed());
  std::vector<std::byte> f = fixtures::tinyPackage(rng);
  std::vector<std::byte> g = f;
  g[1] = std::byte{'X'};
  expectCorrupt(g, "bad magic");
  for (uint32_t v : {0u, 2u, 0xFFFFFFFFu}) {
    g = f;
    storeLE(g.data() + 8, v, 4);
    reseal(g);
    expectCorrupt(g, "format version " + std::to_string(v) + " is not supported");
  }
  g = f;
  storeLE(g.data() + 28, 1, 4);  // flags
  expectCorrupt(g, "header checksum mismatch");
  reseal(g);
  expectCorrupt(g, "header flags 0x00000001 are not zero");
}

TEST(TsrFormat, OversizedCountsAndLengthsAreRefused) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> f = fixtures::tinyPackage(rng);
  const uint64_t index = sectionOffset(f, 1);
  const auto patched = [&](std::size_t at, uint64_t value, std::size_t n) {
    std::vector<std::byte> g = f;
    storeLE(g.data() + at, value, n);
    reseal(g);
    return g;
  };
  expectCorrupt(patched(16, f.size() + 1, 8), "(truncated)");
  expectCorrupt(patched(16, ~uint64_t(0), 8), "(truncated)");
  expectCorrupt(patched(24, 1000000, 4), "section count 1000000");
  expectCorrupt(patched(64 + 16, ~uint64_t(0) - 5, 8), "runs past the end");        // metadata size
  expectCorrupt(patched(64 + 32 + 8, ~uint64_t(0) - 63, 8), "not at");              // index offset
  expectCorrupt(patched(64 + 64 + 16, uint64_t(1) << 62, 8), "runs past the end");  // data size
  expectCorrupt(patched(index, 0xFFFFFFFFu, 4), "more than the limit");
  expectCorrupt(patched(index, 70000, 4), "more than the limit");
  expectCorrupt(patched(index, 0, 4), "lists no tensors");
  expectCorrupt(patched(index, 2, 4), "entries and");
  expectCorrupt(patched(index + 8, ~uint64_t(0), 8), "need more");
  expectCorrupt(patched(index + 16 + 4, 0, 2), "name length 0");
  expectCorrupt(patched(index + 16 + 4, 300, 2), "name length 300");
  expectCorrupt(patched(index + 16 + 8, 0xFFFFFFFFu, 4), "differs from the 463856467860 bytes of shape");
  {
    std::vector<std::byte> g = f;
    for (int d = 0; d < 4; ++d) storeLE(g.data() + index + 16 + 8 + 4 * d, 0xFFFFFFFFu, 4);
    reseal(g);
    expectCorrupt(g, "absurd element count");
  }
  expectCorrupt(patched(index + 16 + 8, 0, 4), "dimension 0 is zero");
  expectCorrupt(patched(index + 16 + 32, 1u << 30, 8), "differs from the");
  expectCorrupt(patched(index + 16 + 6, 7, 1), "dtype code 7");
  expectCorrupt(patched(index + 16 + 7, 5, 1), "rank 5");
  expectCorrupt(patched(index + 16 + 7, 0, 1), "rank 0");
}

TEST(TsrFormat, OverlapsGapsAndPaddingAreRefused) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> f = fixtures::tinyPackage(rng);
  const uint64_t index = sectionOffset(f, 1), data = sectionOffset(f, 2);
  const std::size_t second = index + 16 + kTsrTensorEntrySize;
  std::vector<std::byte> g = f;
  storeLE(g.data() + second + 24, 0, 8);  // the second tensor on top of the first
  reseal(g);
  expectCorrupt(g, "the first aligned byte after the previous tensor");
  g = f;
  storeLE(g.data() + second + 24, loadLE(f.data() + second + 24, 8) + 64, 8);  // a gap
  reseal(g);
  expectCorrupt(g, "the first aligned byte after the previous tensor");
  g = f;
  // conv_in.weight, 3x3x3x3 fp32 = 324 bytes, is followed by padding to 384.
  const uint64_t firstEnd = loadLE(f.data() + index + 16 + 32, 8);
  ASSERT_NE(firstEnd % kTsrAlignment, 0u);
  g[data + firstEnd] = std::byte{1};
  reseal(g);
  expectCorrupt(g, "padding before tensor");
  g = f;
  g[kTsrHeaderSize + kTsrSectionCount * kTsrSectionEntrySize] = std::byte{1};  // before the metadata
  reseal(g);
  expectCorrupt(g, "padding before the metadata section");
  g = f;
  g.push_back(std::byte{0});
  storeLE(g.data() + 16, g.size(), 8);
  reseal(g);
  expectCorrupt(g, "1 bytes follow the last section");
}

TEST(TsrFormat, DuplicateNamesAndBadNamesAreRefused) {
  std::mt19937_64 rng(freshSeed());
  Built b = randomTensors(rng, 3);
  b.tensors[0].name = "aa.x";
  b.tensors[1].name = "bb.x";
  b.tensors[2].name = "cc.y";
  std::vector<std::byte> f = writeTsr("{}", b.tensors);
  const uint64_t index = sectionOffset(f, 1);
  const uint64_t names = index + 16 + 3 * kTsrTensorEntrySize;
  f[names + 4] = std::byte{'a'};  // "bb.x" -> "ab.x"
  f[names + 5] = std::byte{'a'};  // -> "aa.x", a second "aa.x"
  std::vector<std::byte> g = f;
  reseal(g);
  // The flip is in the index, which only the index checksum covers: without resealing it is
  // a checksum error, with it the duplicate itself.
  expectCorrupt(f, "tensor index section checksum mismatch");
  expectCorrupt(g, "\"aa.x\" is listed twice");
  g[names + 1] = std::byte{' '};
  reseal(g);
  expectCorrupt(g, "not printable ASCII");
}

TEST(TsrFormat, MetadataMustBeOneStrictJsonObject) {
  std::mt19937_64 rng(freshSeed());
  const Built b = randomTensors(rng, 2);
  // Writes a valid placeholder of the same length, then puts `meta` in its place and reseals,
  // since the writer itself refuses such metadata.
  const auto withMetadata = [&](const std::string& meta) {
    const std::string placeholder = "{\"p\":\"" + std::string(meta.size() - 8, 'x') + "\"}";
    std::vector<std::byte> f = writeTsr(placeholder, b.tensors);
    std::copy(meta.begin(), meta.end(), reinterpret_cast<char*>(f.data() + sectionOffset(f, 0)));
    reseal(f);
    return f;
  };
  expectCorrupt(withMetadata("{\"a\": 12345"), "not valid JSON");
  expectCorrupt(withMetadata("{\"a\": 1} {}"), "not valid JSON");
  expectCorrupt(withMetadata("{\"a\": \"\xff\"}"), "not valid JSON");
  expectCorrupt(withMetadata("[1, 2, 3, 4]"), "not a JSON object");
  expectCorrupt(withMetadata("{\"a\":1,\"a\":2}"), "the key \"a\" appears twice");
  EXPECT_NO_THROW(TsrContainer::parse(asBytes(withMetadata("{\"a\":1,\"b\":2}"))));
}

TEST(TsrFormat, DeepJsonNestingIsRefused) {
  std::string deep(200, '[');
  deep += std::string(200, ']');
  expectError([&] { parseJsonStrict(deep, ErrorCode::CorruptModel, "x"); }, ErrorCode::CorruptModel,
              "nested deeper than 16");
}

TEST(TsrFormat, WriterRefusesWhatTheReaderWouldRefuse) {
  std::mt19937_64 rng(freshSeed());
  Built b = randomTensors(rng, 2);
  auto t = b.tensors;
  t[1].name = t[0].name;
  expectError([&] { writeTsr("{}", t); }, ErrorCode::InvalidArgument, "given twice");
  t = b.tensors;
  t[0].shape[0] *= 2;
  expectError([&] { writeTsr("{}", t); }, ErrorCode::InvalidArgument, "bytes for");
  t = b.tensors;
  t[0].name = "has space";
  expectError([&] { writeTsr("{}", t); }, ErrorCode::InvalidArgument, "printable");
  expectError([&] { writeTsr("[1]", b.tensors); }, ErrorCode::InvalidArgument, "not a JSON object");
  expectError([&] { writeTsr("{}", {}); }, ErrorCode::InvalidArgument, "1 to 65536");
}

TEST(TsrFormat, AtomicWriteReplacesWholeOrLeavesNothing) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tsr_write_" + std::to_string(freshSeed()));
  fs::create_directories(dir);
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> a = fixtures::tinyPackage(rng), b = fixtures::tinyPackage(rng, DType::F16);
  const fs::path out = dir / "model.tsr";
  writeFileAtomically(out, asBytes(a));
  EXPECT_EQ(readFileBytes(out, 1 << 30), a);
  writeFileAtomically(out, asBytes(b));
  EXPECT_EQ(readFileBytes(out, 1 << 30), b);
  EXPECT_EQ(ModelPackage::readFile(out).tensors().front().dtype, DType::F16);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1)
      << "a temporary file was left";
  expectError([&] { writeFileAtomically(dir / "no" / "such" / "dir.tsr", asBytes(a)); }, ErrorCode::Io,
              "cannot be created");
  expectError([&] { readFileBytes(dir / "absent.tsr", 100); }, ErrorCode::Io, "absent.tsr");
  expectError([&] { readFileBytes(out, 100); }, ErrorCode::Io, "more than the limit");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tessera::model
