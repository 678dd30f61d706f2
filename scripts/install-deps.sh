#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those that are missing.
# Idempotent: when everything is installed it does nothing (no apt-get update either).
#   --bench   also the PyTorch side of the benchmark tables (python3-torch, numpy, scipy for tools/bench_*.py)
set -euo pipefail

# mpich + libmpich-dev: mpiexec for the MPI tests and mpi.h for kernels/mpi (libcurvnative_mpi.so).
# fonts-dejavu-core: the text of the PNG/SVG charts (CurvNative.Plots draws with SkiaSharp, which needs a font).
PACKAGES=(cmake g++ libopenblas-dev pocl-opencl-icd ocl-icd-opencl-dev mpich libmpich-dev fonts-dejavu-core)
case "${1:-}" in
    "") ;;
    --bench) PACKAGES+=(python3-torch python3-numpy python3-scipy) ;;
    *) echo "install-deps: unknown argument '$1' (expected nothing or --bench)" >&2; exit 2 ;;
esac

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all of ${PACKAGES[*]} are installed"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    echo "install-deps: missing ${missing[*]}, and not root and no sudo: install them with apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

still=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still+=("$pkg")
done
if [ "${#still[@]}" -ne 0 ]; then
    echo "install-deps: failed to install ${still[*]}" >&2
    exit 1
fi
