#pragma once
// Counts heap allocations made on a thread while it is armed, by replacing the global operator
// new: a test proves that recording (or beginning) a generation touches no heap. Include it in
// exactly one source file of a test program (a replacement operator new is defined once).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace tessera::test::heap {
inline thread_local bool armed = false;
inline std::atomic<uint64_t> allocations{0};
}  // namespace tessera::test::heap

void* operator new(std::size_t n) {
  if (tessera::test::heap::armed) ++tessera::test::heap::allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// Not inlined, so the compiler does not pair a visible free() with new-expressions and warn.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
