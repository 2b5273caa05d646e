#!/usr/bin/env bash
# Installs the dependencies, builds tessera and runs the whole test suite (on lavapipe when no
# GPU is present). The README's test command and CI both run exactly this.
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
