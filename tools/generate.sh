#!/usr/bin/env bash
# The README's first command: installs the dependencies, builds tessera (Release) and generates
# textures with the shipped default model (models/default.tsr). Arguments go to tessera-gen;
# without any it writes one texture per class and a contact sheet to textures/.
#   bash tools/generate.sh                       # textures/*.png + textures/sheet.png
#   bash tools/generate.sh --class brick --count 4 --size 128 --out bricks/
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh >&2
build=${TESSERA_BUILD_DIR:-build-release}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTESSERA_BUILD_TESTS=OFF >&2
cmake --build "$build" -j"$(nproc)" --target tessera-gen >&2
if [ $# -eq 0 ]; then
  set -- --count 1 --out textures/ --sheet textures/sheet.png
fi
exec "$build/sample_app/gen/tessera-gen" "$@"
