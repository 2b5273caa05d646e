#include "model_package.hpp"

#include <bit>
#include <cstdint>
#include <cstring>

#include "file_io.hpp"
#include "half.hpp"

namespace tessera::model {
namespace {

constexpr uint64_t kMaxPackageBytes = uint64_t(4) << 30;

template <class Bits>
std::size_t firstNonFinite(Bytes data, Bits mask) {
  const std::size_t n = data.size() / sizeof(Bits);
  for (std::size_t i = 0; i < n; ++i) {
    Bits bits;
    if constexpr (std::endian::native == std::endian::little)
      std::memcpy(&bits, data.data() + i * sizeof(Bits), sizeof(Bits));
    else
      bits = Bits(loadLE(data.data() + i * sizeof(Bits), sizeof(Bits)));
    if ((bits & mask) == mask) return i;
  }
  return SIZE_MAX;
}

void checkTensors(const TsrContainer& c, const std::vector<std::pair<std::string, const UnetLayout*>>& stages) {
  std::vector<TensorSpec> expected;
  for (const auto& [prefix, layout] : stages)
    for (TensorSpec spec : layout->tensors()) {
      spec.name = prefix + spec.name;
      expected.push_back(std::move(spec));
    }
  for (const TensorSpec& spec : expected) {
    const TsrTensor* t = c.find(spec.name);
    if (!t) corrupt("tsr: tensor \"" + spec.name + "\", which the architecture needs, is missing");
    if (t->shape != spec.shape)
      corrupt("tsr: tensor \"" + spec.name + "\" has shape " + shapeString(t->shape) +
              ", the architecture needs " + shapeString(spec.shape));
  }
  if (c.tensors().size() != expected.size()) {
    std::map<std::string, int> names;
    for (const TensorSpec& spec : expected) names[spec.name] = 0;
    for (const TsrTensor& t : c.tensors())
      if (!names.count(t.name)) corrupt("tsr: tensor \"" + t.name + "\" is not part of the architecture");
  }
  // Inf and NaN are the values whose exponent bits are all ones; testing the bits in place
  // keeps this scan a small part of opening a package.
  for (const TsrTensor& t : c.tensors()) {
    const std::size_t i = t.dtype == DType::F32 ? firstNonFinite<uint32_t>(t.data, 0x7F800000u)
                                                : firstNonFinite<uint16_t>(t.data, 0x7C00u);
    if (i != SIZE_MAX)
      corrupt("tsr: tensor \"" + t.name + "\" holds a non-finite value at element " + std::to_string(i));
  }
}

}  // namespace

ModelPackage ModelPackage::fromBytes(Bytes file, const TsrReadOptions& options) {
  ModelPackage p;
  p.container_ = TsrContainer::parse(file, options);
  const Json meta = parseJsonStrict(p.container_.metadataText(), ErrorCode::CorruptModel, "tsr metadata");
  p.metadata_ = ModelMetadata::fromJson(meta);
  p.layout_ = UnetLayout::derive(p.metadata_.architecture);
  std::vector<std::pair<std::string, const UnetLayout*>> layouts{{"", &p.layout_}};
  p.stages_.reserve(p.metadata_.stages.size());
  for (std::size_t k = 1; k <= p.metadata_.stages.size(); ++k) {
    const StageMetadata& sm = p.metadata_.stages[k - 1];
    ModelPackage s;
    s.container_ = p.container_;
    s.metadata_.architecture = sm.architecture;
    s.metadata_.tessera = sm.tessera;
    s.metadata_.provenance = sm.provenance;
    s.layout_ = UnetLayout::derive(sm.architecture);
    s.prefix_ = stagePrefix(k);
    p.stages_.push_back(std::move(s));
  }
  for (const ModelPackage& s : p.stages_) layouts.push_back({s.prefix_, &s.layout_});
  checkTensors(p.container_, layouts);
  return p;
}

uint32_t ModelPackage::totalScale() const {
  uint32_t scale = 1;
  for (const ModelPackage& s : stages_) scale *= s.metadata_.tessera.scaleFactor.value_or(1);
  return scale;
}

ModelPackage ModelPackage::fromBuffer(std::vector<std::byte> file, const TsrReadOptions& options) {
  auto storage = std::make_shared<const std::vector<std::byte>>(std::move(file));
  ModelPackage p = fromBytes(asBytes(*storage), options);
  for (ModelPackage& s : p.stages_) s.storage_ = storage;
  p.storage_ = std::move(storage);
  return p;
}

ModelPackage ModelPackage::readFile(const std::filesystem::path& path) {
  try {
    return fromBuffer(readFileBytes(path, kMaxPackageBytes));
  } catch (const Error& e) {
    if (e.code() != ErrorCode::CorruptModel) throw;
    throw Error(ErrorCode::CorruptModel, path.filename().string() + ": " + e.what());
  }
}

const TsrTensor& ModelPackage::tensor(const std::string& name) const {
  const TsrTensor* t = container_.find(prefix_ + name);
  if (!t) throw Error(ErrorCode::InvalidArgument, "model package: no tensor \"" + name + "\"");
  return *t;
}

std::vector<float> toFloat32(const TsrTensor& t) {
  const std::size_t n = std::size_t(t.data.size() / dtypeSize(t.dtype));
  std::vector<float> out(n);
  const std::byte* p = t.data.data();
  if (t.dtype == DType::F32)
    for (std::size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(uint32_t(loadLE(p + 4 * i, 4)));
  else
    for (std::size_t i = 0; i < n; ++i) out[i] = halfToFloat(uint16_t(loadLE(p + 2 * i, 2)));
  return out;
}

}  // namespace tessera::model
