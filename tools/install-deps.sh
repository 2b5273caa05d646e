#!/usr/bin/env bash
# Installs everything tessera needs to build, test and train, from Debian's packages only.
# Used by the README's set-up and by .ci/run; safe to run again.
set -euo pipefail
packages=(
  build-essential cmake pkg-config git ccache
  libvulkan-dev vulkan-validationlayers mesa-vulkan-drivers vulkan-tools
  glslang-tools glslang-dev spirv-cross libspirv-cross-c-shared-dev spirv-tools
  libglm-dev libgtest-dev libstb-dev nlohmann-json3-dev zlib1g-dev libcli11-dev
  libglfw3-dev xvfb xauth
  clang libclang-rt-dev
  python3 python3-torch python3-numpy python3-pil
  # PyTorch's matrix products go through the system BLAS; without this it is the reference
  # (netlib) one, which made attention ~9x and training ~3.6x slower here.
  libopenblas0-openmp
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
