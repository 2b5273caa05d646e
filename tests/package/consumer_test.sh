#!/usr/bin/env bash
# Installs this build's `kit` (static or shared) into a fresh prefix, then builds and runs an
# out-of-tree consumer of it twice: through find_package(tessera) (examples/package) and through
# pkg-config with the C compiler alone. For the shared kit it also checks that the library exports
# the C ABI (tsr_*) and nothing else.
# usage: consumer_test.sh CMAKE CC BUILD_DIR SOURCE_DIR WORK_DIR KIT
set -euo pipefail
cmake=$1 cc=$2 build=$3 src=$4 work=$5 kit=$6
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
"$cmake" --install "$build" --prefix "$prefix" --component "$kit" >"$work/install.log"

libdir=$(dirname "$(find "$prefix" -name tessera.pc -print -quit)")/..
for f in include/tessera/tessera.h include/tessera/tessera.hpp share/tessera/default.tsr; do
  test -f "$prefix/$f" || { echo "missing from the install: $f"; exit 1; }
done
test -f "$libdir/cmake/tessera/tesseraConfig.cmake" && test -f "$libdir/cmake/tessera/tesseraConfigVersion.cmake"
if [ "$kit" = shared ]; then
  test -e "$libdir/libtessera.so" && ! test -e "$libdir/libtessera.a"
  others=$(nm -D --defined-only "$libdir/libtessera.so" | awk '{print $3}' | grep -v '^tsr_' || true)
  if [ -n "$others" ]; then echo "libtessera.so exports more than the C ABI:"; echo "$others" | head -20; exit 1; fi
  nm -D --defined-only "$libdir/libtessera.so" | grep -q ' tsr_generator_create$'
else
  test -e "$libdir/libtessera.a" && ! test -e "$libdir/libtessera.so"
fi

# 1. CMake: find_package(tessera) and tessera::tessera; its own ctest runs it on the installed model.
"$cmake" -S "$src/examples/package" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_COMPILER="$cc" >"$work/cmake-configure.log"
"$cmake" --build "$work/cmake" >"$work/cmake-build.log"
"$(dirname "$cmake")/ctest" --test-dir "$work/cmake" --output-on-failure

# 2. pkg-config and the C compiler, nothing else (plus the CFLAGS / LDFLAGS of the environment, as
# a build would pass them: tools/sanitize.sh's kits need the sanitizers' runtimes at link).
export PKG_CONFIG_PATH="$libdir/pkgconfig"
test "$(pkg-config --modversion tessera)" = "$(sed -n 's/^project(tessera VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")"
"$cc" ${CFLAGS:-} -o "$work/pc-consumer" "$src/examples/minimal.c" $(pkg-config --cflags --libs tessera) ${LDFLAGS:-} \
  -Wl,-rpath,"$(pkg-config --variable=libdir tessera)"
out=$("$work/pc-consumer" "$(pkg-config --variable=modeldir tessera)/default.tsr")
echo "$out"
echo "$out" | grep -Eq '^first pixel: [0-9]+ [0-9]+ [0-9]+$'
echo "package ($kit): find_package and pkg-config consumers built and ran"
