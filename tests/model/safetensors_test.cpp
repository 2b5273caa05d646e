// The safetensors reader: F32 / F16 / BF16 and I32 / I64 read exactly; every malformed header,
// bound and offset refused by name; other dtypes refused naming the dtype; integer tensors never
// taken as weights.
#include "safetensors.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "converter.hpp"
#include "half.hpp"
#include "model_fixtures.hpp"
#include "op_harness.hpp"

namespace tessera::model {
namespace {

using test::expectError;
using test::freshSeed;

// IEEE binary16 / bfloat16 decoded from their fields with ldexp: a reference that shares no
// code with the reader's bit manipulation.
double decode16(uint16_t bits, int expBits, int mantBits) {
  const int bias = (1 << (expBits - 1)) - 1;
  const int sign = bits >> 15;
  const int exp = (bits >> mantBits) & ((1 << expBits) - 1);
  const int mant = bits & ((1 << mantBits) - 1);
  double v;
  if (exp == (1 << expBits) - 1)
    v = mant ? std::nan("") : INFINITY;
  else if (exp == 0)
    v = std::ldexp(double(mant), 1 - bias - mantBits);
  else
    v = std::ldexp(double(mant + (1 << mantBits)), exp - bias - mantBits);
  return sign ? -v : v;
}

SafeTensorIn tensor(const std::string& name, SafeDType dtype, std::vector<uint64_t> shape,
                    std::mt19937_64& rng) {
  SafeTensorIn t{name, dtype, std::move(shape), {}};
  uint64_t n = 1;
  for (uint64_t d : t.shape) n *= d;
  std::uniform_int_distribution<uint32_t> bits;
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t b = bits(rng);
    if (dtype != SafeDType::F32) {
      b &= 0xFFFF;
      if (((b >> (dtype == SafeDType::F16 ? 10 : 7)) & (dtype == SafeDType::F16 ? 0x1F : 0xFF)) ==
          (dtype == SafeDType::F16 ? 0x1Fu : 0xFFu))
        b ^= 0x4000;  // keep the values finite so equality is meaningful
    } else if (((b >> 23) & 0xFF) == 0xFF) {
      b ^= 0x40000000;
    }
    const std::size_t size = safeDTypeSize(dtype);
    const std::size_t at = t.data.size();
    t.data.resize(at + size);
    storeLE(t.data.data() + at, b, size);
  }
  return t;
}

std::vector<std::byte> withHeader(const std::string& header, std::size_t dataBytes) {
  std::vector<std::byte> f(8 + header.size() + dataBytes, std::byte{0});
  storeLE(f.data(), header.size(), 8);
  std::copy(header.begin(), header.end(), reinterpret_cast<char*>(f.data() + 8));
  return f;
}

void expectCorrupt(const std::vector<std::byte>& f, const std::string& needle) {
  expectError([&] { SafetensorsFile::parse(asBytes(f)); }, ErrorCode::CorruptModel, needle);
}

TEST(Safetensors, ValidFilesInEveryDtypeReadExactly) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<SafeTensorIn> in = {
      tensor("conv.weight", SafeDType::F32, {13, 3, 3, 3}, rng),
      tensor("norm.bias", SafeDType::F16, {13}, rng), tensor("emb.weight", SafeDType::BF16, {3, 7}, rng),
      tensor("scalar", SafeDType::F32, {}, rng), tensor("empty", SafeDType::F16, {0, 5}, rng)};
  const std::vector<std::byte> file = writeSafetensors(in, {{"format", "pt"}});
  const SafetensorsFile f = SafetensorsFile::parse(asBytes(file));
  EXPECT_EQ(f.metadata().at("format"), "pt");
  ASSERT_EQ(f.tensors().size(), in.size());
  for (const SafeTensorIn& t : in) {
    const SafeTensor* got = f.find(t.name);
    ASSERT_NE(got, nullptr) << t.name;
    EXPECT_EQ(got->dtype, t.dtype);
    EXPECT_EQ(got->shape, t.shape);
    const std::vector<float> v = toFloat32(*got);
    const std::size_t size = safeDTypeSize(t.dtype);
    ASSERT_EQ(v.size(), t.data.size() / size);
    for (std::size_t i = 0; i < v.size(); ++i) {
      const uint64_t bits = loadLE(t.data.data() + i * size, size);
      const double want = t.dtype == SafeDType::F32   ? double(std::bit_cast<float>(uint32_t(bits)))
                          : t.dtype == SafeDType::F16 ? decode16(uint16_t(bits), 5, 10)
                                                      : decode16(uint16_t(bits), 8, 7);
      ASSERT_EQ(double(v[i]), want) << t.name << "[" << i << "] bits " << bits;
    }
  }
  EXPECT_EQ(f.find("absent"), nullptr);
}

TEST(Safetensors, HalfConversionsAreExactAndRoundToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const double want = decode16(uint16_t(h), 5, 10);
    const float got = halfToFloat(uint16_t(h));
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got)) << h;
      continue;
    }
    ASSERT_EQ(double(got), want) << h;
    ASSERT_EQ(floatToHalf(got), h) << "fp16 -> fp32 -> fp16 must be the identity, " << h;
    ASSERT_EQ(bfloat16ToFloat(uint16_t(h)), float(decode16(uint16_t(h), 8, 7))) << h;
  }
  // Random fp32 values: the result is the nearest half, and the even one on a tie.
  std::mt19937_64 rng(freshSeed());
  std::uniform_real_distribution<double> logMag(-26.0, 17.0);
  for (int i = 0; i < 200000; ++i) {
    float x = float(std::exp2(logMag(rng)));
    if (i & 1) x = -x;
    if (i % 7 == 0) {  // an exact tie between two neighbouring halves
      const uint16_t h = uint16_t(rng() & 0x7BFE);
      x = float((decode16(h, 5, 10) + decode16(uint16_t(h + 1), 5, 10)) / 2);
    }
    const uint16_t h = floatToHalf(x);
    const double got = decode16(h, 5, 10);
    if (std::fabs(x) >= 65520.0) {
      ASSERT_TRUE(std::isinf(got)) << x;
      continue;
    }
    const double err = std::fabs(got - x);
    for (int d : {-1, 1}) {
      const uint16_t n = uint16_t((h & 0x7FFF) + d) | (h & 0x8000);
      if ((h & 0x7FFF) == 0 && d < 0) continue;
      const double other = std::fabs(decode16(n, 5, 10) - x);
      ASSERT_LE(err, other) << "x " << x << " -> " << h;
      if (err == other) {
        ASSERT_EQ(h & 1, 0) << "a tie must round to even: x " << x;
      }
    }
  }
}

TEST(Safetensors, EveryTruncationIsRefused) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> file =
      writeSafetensors({tensor("a", SafeDType::F32, {3, 13}, rng), tensor("b", SafeDType::F16, {13}, rng)});
  for (std::size_t n = 0; n < file.size(); ++n) {
    const std::vector<std::byte> cut(file.begin(), file.begin() + std::ptrdiff_t(n));
    try {
      SafetensorsFile::parse(asBytes(cut));
      FAIL() << "a file cut to " << n << " bytes was accepted";
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::CorruptModel) << e.what();
    }
  }
  expectCorrupt(std::vector<std::byte>(file.begin(), file.begin() + 5),
                "fewer than the 8-byte header length");
}

TEST(Safetensors, HeaderLengthAndJsonAreChecked) {
  std::vector<std::byte> f = withHeader("{}", 0);
  EXPECT_NO_THROW(SafetensorsFile::parse(asBytes(f)));
  storeLE(f.data(), 3, 8);
  expectCorrupt(f, "runs past the end");
  storeLE(f.data(), ~uint64_t(0), 8);
  expectCorrupt(f, "exceeds the 100 MB limit");
  expectCorrupt(withHeader("[]", 0), "does not start with '{'");
  expectCorrupt(withHeader("", 0), "does not start with '{'");
  expectCorrupt(withHeader("{\"a\":", 0), "not valid JSON");
  expectCorrupt(withHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{}})", 4),
                "appears twice");
  expectCorrupt(withHeader(R"({"__metadata__":{"k":1}})", 0), "is not a string");
  expectCorrupt(withHeader(R"({"__metadata__":[]})", 0), "\"__metadata__\" is not an object");
}

TEST(Safetensors, EachTensorFieldIsChecked) {
  const auto one = [](const std::string& entry, std::size_t data) {
    return withHeader("{\"t.w\":" + entry + "}", data);
  };
  EXPECT_NO_THROW(
      SafetensorsFile::parse(asBytes(one(R"({"dtype":"F16","shape":[3],"data_offsets":[0,6]})", 6))));
  expectCorrupt(one(R"([])", 0), "is not described by an object");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1]})", 4), "lacks one of");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1})", 4), "unknown field \"x\"");
  expectCorrupt(one(R"({"dtype":"Q4","shape":[1],"data_offsets":[0,4]})", 4), "not a safetensors dtype");
  expectCorrupt(one(R"({"dtype":7,"shape":[1],"data_offsets":[0,4]})", 4), "\"dtype\" is not a string");
  expectCorrupt(one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", 4), "shape holds -1");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})", 4), "shape holds 1.5");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]})", 4), "at most 8");
  expectCorrupt(one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})", 4),
                "overflows 64 bits");
  expectCorrupt(one(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 4),
                "needs 8 bytes but data_offsets span 4");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})", 4), "end before they begin");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", 4), "is not [begin, end]");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,-4]})", 4), "data_offsets holds -4");
  expectCorrupt(
      one(R"({"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551616]})", 4),
      "data_offsets holds");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,12]})", 4), "lies past the 4 data bytes");
  expectCorrupt(one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4]})", 8),
                "4 bytes follow the last tensor");
  expectCorrupt(withHeader(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4), "empty name");
}

TEST(Safetensors, OverlapsAndGapsAreRefused) {
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  expectCorrupt(withHeader("{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                "overlaps the tensor before it");
  expectCorrupt(withHeader("{" + a + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                "overlaps the tensor before it");
  expectCorrupt(withHeader("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})", 16),
                "a gap of 4 bytes precedes tensor \"b\"");
  EXPECT_NO_THROW(SafetensorsFile::parse(
      asBytes(withHeader("{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12))));
}

TEST(Safetensors, OtherDtypesAreRefusedByName) {
  for (const char* dtype : {"F64", "I16", "I8", "U8", "U64", "BOOL", "F8_E4M3"}) {
    const std::string h =
        std::string(R"({"w":{"dtype":")") + dtype + R"(","shape":[1],"data_offsets":[0,1]}})";
    expectError([&] { SafetensorsFile::parse(asBytes(withHeader(h, 1))); }, ErrorCode::Unsupported,
                std::string("dtype \"") + dtype + "\", which tessera does not read");
  }
}

// Integers written as little-endian two's complement by hand, so the reader's decoding is
// checked against an independent encoding.
SafeTensorIn integers(const std::string& name, SafeDType dtype, std::vector<uint64_t> shape,
                      const std::vector<int64_t>& values) {
  SafeTensorIn t{name, dtype, std::move(shape), {}};
  const std::size_t size = dtype == SafeDType::I32 ? 4 : 8;
  for (int64_t v : values) {
    uint64_t u = uint64_t(v);
    for (std::size_t b = 0; b < size; ++b, u >>= 8) t.data.push_back(std::byte(u & 0xFF));
  }
  return t;
}

TEST(Safetensors, IntegerDtypesReadExactly) {
  std::mt19937_64 rng(freshSeed());
  std::vector<int64_t> i64 = {0, 1, -1, INT64_MIN, INT64_MAX, int64_t(1) << 53, -(int64_t(1) << 40) - 3};
  std::vector<int64_t> i32 = {0, 1, -1, INT32_MIN, INT32_MAX, 10, -7};
  for (int i = 0; i < 13; ++i) {
    i64.push_back(int64_t(rng()));
    i32.push_back(int32_t(uint32_t(rng())));
  }
  const std::vector<std::byte> file = writeSafetensors(
      {integers("labels64", SafeDType::I64, {4, 5}, i64), integers("labels32", SafeDType::I32, {20}, i32),
       integers("one", SafeDType::I64, {}, {-9}), tensor("w", SafeDType::F16, {3}, rng)});
  const SafetensorsFile f = SafetensorsFile::parse(asBytes(file));
  ASSERT_NE(f.find("labels64"), nullptr);
  EXPECT_EQ(f.find("labels64")->dtype, SafeDType::I64);
  EXPECT_EQ(toInt64(*f.find("labels64")), i64);
  EXPECT_EQ(f.find("labels32")->dtype, SafeDType::I32);
  EXPECT_EQ(toInt64(*f.find("labels32")), i32);
  EXPECT_EQ(toInt64(*f.find("one")), std::vector<int64_t>{-9});
  EXPECT_EQ(safeDTypeSize(SafeDType::I64), 8u);
  EXPECT_EQ(safeDTypeSize(SafeDType::I32), 4u);
  // Integers are never widened to floats (that is how a weight would be read), and floats are
  // not integers.
  expectError([&] { toFloat32(*f.find("labels64")); }, ErrorCode::Unsupported,
              "tensor \"labels64\" holds I64 integers where floating-point values");
  expectError([&] { toFloat32(*f.find("labels32")); }, ErrorCode::Unsupported, "holds I32 integers");
  expectError([&] { toInt64(*f.find("w")); }, ErrorCode::Unsupported,
              "tensor \"w\" holds F16 values where integers (I32 or I64) are needed");
}

TEST(Safetensors, IntegerTensorsAreBoundsChecked) {
  std::mt19937_64 rng(freshSeed());
  const std::vector<std::byte> file = writeSafetensors(
      {integers("a", SafeDType::I64, {3}, {int64_t(rng()), 2, 3}), integers("b", SafeDType::I32, {13}, std::vector<int64_t>(13, 5))});
  for (std::size_t n = 0; n < file.size(); ++n) {
    const std::vector<std::byte> cut(file.begin(), file.begin() + std::ptrdiff_t(n));
    try {
      SafetensorsFile::parse(asBytes(cut));
      FAIL() << "a file cut to " << n << " bytes was accepted";
    } catch (const Error& e) {
      ASSERT_EQ(e.code(), ErrorCode::CorruptModel) << e.what();
    }
  }
  const auto one = [](const std::string& entry, std::size_t data) {
    return withHeader("{\"y\":" + entry + "}", data);
  };
  EXPECT_NO_THROW(SafetensorsFile::parse(asBytes(one(R"({"dtype":"I64","shape":[2],"data_offsets":[0,16]})", 16))));
  // An I64 shape given the bytes of I32 values, and the other way round.
  expectCorrupt(one(R"({"dtype":"I64","shape":[2],"data_offsets":[0,8]})", 8), "of I64 needs 16 bytes but data_offsets span 8");
  expectCorrupt(one(R"({"dtype":"I32","shape":[2],"data_offsets":[0,16]})", 16), "of I32 needs 8 bytes but data_offsets span 16");
  expectCorrupt(one(R"({"dtype":"I64","shape":[2],"data_offsets":[0,16]})", 8), "lies past the 8 data bytes");
  expectCorrupt(one(R"({"dtype":"I64","shape":[2],"data_offsets":[0,16]})", 24), "8 bytes follow the last tensor");
  expectCorrupt(one(R"({"dtype":"I64","shape":[2305843009213693952,2],"data_offsets":[0,16]})", 16),
                "the byte size overflows 64 bits");
}

TEST(Safetensors, TheConverterRefusesIntegerWeights) {
  std::mt19937_64 rng(freshSeed());
  const Json config = fixtures::tinyConfig();
  std::vector<SafeTensorIn> checkpoint = fixtures::randomCheckpoint(config, rng);
  ASSERT_FALSE(checkpoint.empty());
  SafeTensorIn& victim = checkpoint[rng() % checkpoint.size()];
  uint64_t n = 1;
  for (uint64_t d : victim.shape) n *= d;
  victim = integers(victim.name, SafeDType::I32, victim.shape, std::vector<int64_t>(n, 1));
  const std::vector<std::byte> st = writeSafetensors(checkpoint);
  const SafetensorsFile weights = SafetensorsFile::parse(asBytes(st));
  expectError([&] { convertModel(config, weights, std::nullopt, Json::object(), ConvertOptions{}); },
              ErrorCode::Unsupported, "tensor \"" + victim.name + "\" holds I32 integers");
}

}  // namespace
}  // namespace tessera::model
