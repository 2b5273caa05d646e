#pragma once
// Counts heap allocations made on a thread while it is armed, by replacing the global operator
// new: a test proves that recording (or beginning) a generation touches no heap. Include it in
// exactly one source file of a test program (a replacement operator new is defined once).
//
// Every form of operator new and delete is replaced, all on malloc / free: replacing only some
// would pair, say, the library's operator new[] with this free(), which AddressSanitizer reports
// as an alloc-dealloc mismatch (and which is undefined behaviour without it).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace tessera::test::heap {
inline thread_local bool armed = false;
inline std::atomic<uint64_t> allocations{0};

inline void* allocate(std::size_t n, std::size_t alignment = 0) noexcept {
  if (armed) ++allocations;
  if (n == 0) n = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(n);
  void* p = nullptr;
  return posix_memalign(&p, alignment, n) == 0 ? p : nullptr;
}
inline void* allocateOrThrow(std::size_t n, std::size_t alignment = 0) {
  if (void* p = allocate(n, alignment)) return p;
  throw std::bad_alloc();
}
}  // namespace tessera::test::heap

// Not inlined, so the compiler does not pair a visible malloc()/free() with new-expressions and warn.
#define TESSERA_HEAP_FN __attribute__((noinline))
namespace thc = tessera::test::heap;

TESSERA_HEAP_FN void* operator new(std::size_t n) { return thc::allocateOrThrow(n); }
TESSERA_HEAP_FN void* operator new[](std::size_t n) { return thc::allocateOrThrow(n); }
TESSERA_HEAP_FN void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return thc::allocate(n); }
TESSERA_HEAP_FN void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return thc::allocate(n); }
TESSERA_HEAP_FN void* operator new(std::size_t n, std::align_val_t a) { return thc::allocateOrThrow(n, std::size_t(a)); }
TESSERA_HEAP_FN void* operator new[](std::size_t n, std::align_val_t a) {
  return thc::allocateOrThrow(n, std::size_t(a));
}
TESSERA_HEAP_FN void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return thc::allocate(n, std::size_t(a));
}
TESSERA_HEAP_FN void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return thc::allocate(n, std::size_t(a));
}

TESSERA_HEAP_FN void operator delete(void* p) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete[](void* p) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete(void* p, std::size_t) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
TESSERA_HEAP_FN void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#undef TESSERA_HEAP_FN
