#include "op_harness.hpp"

#include <glm/gtc/packing.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace tessera::test {

uint64_t freshSeed() {
  if (const char* s = std::getenv("TESSERA_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

std::vector<float> randomVector(std::mt19937_64& rng, std::size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> roundTo(DType t, std::span<const float> v) {
  std::vector<float> r(v.begin(), v.end());
  if (t == DType::F16)
    for (float& x : r) x = glm::unpackHalf1x16(glm::packHalf1x16(x));
  return r;
}

TensorPool::TensorPool(const vk::Gpu& gpu, std::size_t capacityBytes)
    : gpu_(gpu), buffer_(std::make_unique<vk::HostBuffer>(gpu, capacityBytes)) {}

Tensor TensorPool::make(Shape4 shape, DType dtype) {
  const std::size_t align = std::max<std::size_t>(gpu_.facts.minStorageBufferOffsetAlignment, 16);
  used_ = (used_ + align - 1) / align * align;
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  // Round the range up to 4 bytes so an fp16 tensor of odd length is still a valid binding.
  const std::size_t bytes = (t.bytes() + 3) / 4 * 4;
  if (used_ + bytes > buffer_->size()) throw std::runtime_error("TensorPool: capacity exceeded");
  t.ref = buffer_->ref(used_, bytes);
  used_ += bytes;
  return t;
}

void TensorPool::upload(const Tensor& t, std::span<const float> values) {
  if (values.size() != t.shape.count()) throw std::runtime_error("TensorPool::upload: size mismatch");
  auto* base = static_cast<unsigned char*>(buffer_->data()) + t.ref.offset;
  if (t.dtype == DType::F32) {
    std::memcpy(base, values.data(), values.size_bytes());
  } else {
    auto* h = reinterpret_cast<uint16_t*>(base);
    for (std::size_t i = 0; i < values.size(); ++i) h[i] = glm::packHalf1x16(values[i]);
  }
  buffer_->flush();
}

std::vector<float> TensorPool::download(const Tensor& t) {
  buffer_->invalidate();
  std::vector<float> v(t.shape.count());
  const auto* base = static_cast<const unsigned char*>(buffer_->data()) + t.ref.offset;
  if (t.dtype == DType::F32) {
    std::memcpy(v.data(), base, v.size() * 4);
  } else {
    const auto* h = reinterpret_cast<const uint16_t*>(base);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = glm::unpackHalf1x16(h[i]);
  }
  return v;
}

void TensorPool::poison(const Tensor& t) {
  std::vector<float> nan(t.shape.count(), std::numeric_limits<float>::quiet_NaN());
  upload(t, nan);
}

void runProgram(const vk::Gpu& gpu, Program& prog) {
  prog.finalize();
  vk::Submitter sub(gpu);
  sub.run([&](VkCommandBuffer cmd) {
    prog.record(cmd);
    vk::barrierComputeToHost(gpu, cmd);
  });
}

double relativeL2(std::span<const float> got, std::span<const float> want) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num / den);
}

Tolerance toleranceFor(DType t) { return t == DType::F16 ? Tolerance{1e-2, 3e-2} : Tolerance{1e-5, 1e-4}; }

void expectClose(std::span<const float> got, std::span<const double> want, DType t, const char* what) {
  expectClose(got, want, toleranceFor(t), what);
}

void expectClose(std::span<const float> got, std::span<const double> want, Tolerance tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0, maxWant = 1, worst = 0;
  std::size_t worstAt = 0;
  for (double w : want) maxWant = std::max(maxWant, std::abs(w));
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << ": element " << i << " is " << got[i]
                                       << " (expected " << want[i] << ")";
    const double e = got[i] - want[i];
    num += e * e;
    den += want[i] * want[i];
    if (std::abs(e) > worst) {
      worst = std::abs(e);
      worstAt = i;
    }
  }
  const double rel = std::sqrt(num / std::max(den, 1e-300));
  EXPECT_LE(rel, tol.relL2) << what << ": relative L2 error";
  EXPECT_LE(worst, tol.maxAbs * maxWant) << what << ": element " << worstAt << " is " << got[worstAt]
                                         << ", expected " << want[worstAt];
}

}  // namespace tessera::test
