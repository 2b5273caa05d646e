#!/usr/bin/env bash
# Installs the dependencies, builds tessera and runs the whole test suite (on lavapipe when no
# GPU is present) under the validation layer with synchronization validation, then the fuzzers
# and a sanitized subset. The README's test command and CI both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
build=${TESSERA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"

# Bounded fuzz runs of the model readers (clang + libFuzzer under ASan/UBSan), in their own build.
fuzz=${TESSERA_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S tests/fuzz -B "$fuzz" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$fuzz" -j"$(nproc)"
ctest --test-dir "$fuzz" --output-on-failure

# The C ABI's edges and the model readers again under ASan + UBSan, in a Debug build of their own
# (tools/sanitize.sh; run it without --subset for the whole suite, which CI's time does not allow).
bash tools/sanitize.sh --subset
