#!/usr/bin/env bash
# The test suite under AddressSanitizer and UndefinedBehaviorSanitizer: a Debug build of its own
# (build-asan/, or TESSERA_ASAN_BUILD_DIR) with -fsanitize=address,undefined, every UB report
# fatal, then ctest. tools/run-tests.sh (and so CI) runs it after the normal suite.
#
#   bash tools/sanitize.sh                 # the whole suite: run it before merging a change to
#                                          # host code (see the timing below)
#   bash tools/sanitize.sh --subset        # what CI runs: the C ABI's edges, the model readers
#                                          # and the mip op, minutes
#   bash tools/sanitize.sh -R 'ApiMemory'  # any ctest selection (arguments go to ctest)
#
# Why CI runs the subset: measured on the 2-core CI machine, the whole sanitized suite takes about
# 22 minutes of ctest (-j2, 2-6x the normal suite's 8: readme_example 30 s, the stress test 250 s)
# after a Debug build of its own of about 25 minutes from scratch. Added to a fresh machine's
# package install, the normal build, suite and fuzz runs, that leaves no margin in CI's 90
# minutes; the subset adds about 10. The whole suite ran clean but for the stress test's heap
# measure, which now reads ASan's allocator (tests/api/api_stress_test.cpp).
#
# Only tessera's code, the tests and the sample apps are instrumented: lavapipe, the loader and
# the validation layer are Debian's own builds, so the shaders run at full speed and the cost is
# the host code's (the double-precision references of the op tests above all, at -O0).
#
# Leak checking is off: the Vulkan loader, lavapipe and the validation layer keep allocations
# for the process's life, which LeakSanitizer would report as leaks of the tests. tessera's own
# objects and heap are counted for leaks by the tests themselves (tests/api/api_stress_test.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${TESSERA_ASAN_BUILD_DIR:-build-asan}
sanitizers="-fsanitize=address,undefined"
flags="$sanitizers -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
targets=()
ctest_args=()
if [ "${1:-}" = "--subset" ]; then
  shift
  # The C ABI's validation (enums stored as integers, malformed requests and descriptions, the
  # heap counter's operator new/delete) and the model readers: the places where a host's bytes
  # meet tessera's code.
  targets=(api_context_test api_model_test tsr_format_test safetensors_test unet_config_test image_mips_test)
  ctest_args=(-R '^(ApiContextTest|ApiModelTest|TsrFormat|Safetensors|UnetConfig|ImageMipsTest)\.')
fi
ctest_args+=("$@")
# The fuzz targets have their own sanitized clang build (tools/run-tests.sh).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTESSERA_FUZZ=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$sanitizers" -DCMAKE_SHARED_LINKER_FLAGS="$sanitizers"
if [ ${#targets[@]} -gt 0 ]; then
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"
else
  cmake --build "$build" -j"$(nproc)"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The package tests build consumers of the installed (sanitized) library: they link the runtimes.
export CFLAGS="$sanitizers" LDFLAGS="$sanitizers"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" "${ctest_args[@]}"
