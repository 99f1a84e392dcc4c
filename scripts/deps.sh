#!/usr/bin/env bash
# Installs the Debian 12 packages reef needs, only those missing.
# Run by `make demo` and `make test`; safe to run again (it then does nothing).
#   scripts/deps.sh            build, test and demo dependencies
#   scripts/deps.sh --bench    also the comparison baselines (Pillow, PyTorch)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libopenblas-dev            # GEMM for float training (cblas_sgemm)
  libjpeg62-turbo-dev        # JPEG decode with DCT-domain scaling
  libpng-dev zlib1g-dev      # PNG decode, gzip'd IDX files
  libcmocka-dev              # unit tests under CTest
  gnuplot-nox                # training curves, search plots
  gcc-arm-none-eabi libnewlib-arm-none-eabi   # Cortex-M4 firmware
  qemu-system-arm            # emulated Cortex-M4 (mps2-an386)
  dpkg-dev                   # apt-get source: the QEMU plugin header
  clang libclang-rt-14-dev   # libFuzzer target for the .tflite reader
  flatbuffers-compiler       # flatc: tests decode reef-written .tflite files with TFLite's schema
  python3-pyarmnn libarmnn-cpuref-backend22 python3-numpy  # Arm NN: a second .tflite reader runs what reef writes
  dataset-fashion-mnist      # demo fallback when DeepFish is absent
  libopenmpi-dev openmpi-bin # mpirun -np N reef train|prep|cv (docs/mpi.md)
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(python3-pil python3-torch python3-numpy jq)   # jq: bench totals from --json
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# QEMU's TCG plugin header is not packaged; it sits in Debian's qemu source.
# Fetch just that one file, once, into third_party/ (not committed).
here=$(cd "$(dirname "$0")/.." && pwd)
hdr="$here/third_party/qemu/qemu-plugin.h"
if [[ ! -f "$hdr" ]]; then
  "$here/scripts/fetch-qemu-plugin-header.sh" "$hdr"
fi
