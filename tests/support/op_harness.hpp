#pragma once
// Shared harness for op tests: fresh random inputs, device tensors poisoned before each run,
// a CPU reference in double precision, and a comparison with a tolerance per storage type.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <vector>

#include "error.hpp"
#include "program.hpp"
#include "vk/buffer.hpp"

namespace tessera::test {

// A seed that differs per run (printed with any failure); TESSERA_TEST_SEED fixes it.
uint64_t freshSeed();

std::vector<float> randomVector(std::mt19937_64& rng, std::size_t n, float lo = -1.0f, float hi = 1.0f);

// Rounds through the storage type, so a reference can see exactly what the GPU reads.
std::vector<float> roundTo(DType t, std::span<const float> v);

// Tensors placed one after another in one host-visible buffer, each at the device's alignment.
class TensorPool {
 public:
  TensorPool(const vk::Gpu& gpu, std::size_t capacityBytes);
  Tensor make(Shape4 shape, DType dtype);
  void upload(const Tensor& t, std::span<const float> values);
  std::vector<float> download(const Tensor& t);
  // Fills with NaN so an element the op forgot to write cannot pass.
  void poison(const Tensor& t);
  const vk::HostBuffer& buffer() const { return *buffer_; }

 private:
  const vk::Gpu& gpu_;
  std::unique_ptr<vk::HostBuffer> buffer_;
  std::size_t used_ = 0;
};

// Finalizes the program, records it, submits and waits; writes are visible to the host after.
void runProgram(const vk::Gpu& gpu, Program& prog);

// ||got - want|| / ||want||; infinite when `got` holds a NaN or infinity.
double relativeL2(std::span<const float> got, std::span<const float> want);

struct Tolerance {
  double relL2;   // ||got - want|| / ||want||
  double maxAbs;  // per element, relative to max |want| (at least 1)
};
Tolerance toleranceFor(DType t);

// NaN/Inf fail; so does a relative L2 error or an element error beyond the tolerance.
void expectClose(std::span<const float> got, std::span<const double> want, DType t, const char* what);
void expectClose(std::span<const float> got, std::span<const double> want, Tolerance tol, const char* what);

// Runs `fn` and expects a tessera::Error with `code` whose message contains `needle`.
template <class Fn>
void expectError(Fn&& fn, ErrorCode code, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(code)) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace tessera::test
