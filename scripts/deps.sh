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
# Node and npm: real TensorFlow Lite (npm's @tensorflow/tfjs-tflite, TFLite
# compiled to WebAssembly) reads what reef writes in the tests. A Node from
# elsewhere (nodesource) is kept; otherwise Debian's.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
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

# TensorFlow Lite for the tests' second reader: @tensorflow/tfjs-tflite from
# the npm registry, pinned, installed once into a cache outside the repo
# (tests/tflite/tfjs_reader.js finds it there; REEF_CACHE moves the cache).
# Only its WebAssembly build of TFLite is used, so its peer dependency
# (tfjs-core) is not installed. npm keeps the tarball in ~/.npm: a clean
# clone on the same machine installs it again from there, offline.
tfjs_version=0.0.1-alpha.10
cache=${REEF_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/reef}
tfjs="$cache/tfjs-tflite-$tfjs_version"
if [[ ! -f "$tfjs/node_modules/@tensorflow/tfjs-tflite/wasm/tflite_web_api_cc.wasm" ]]; then
  echo "deps: installing @tensorflow/tfjs-tflite@$tfjs_version from npm into $tfjs"
  mkdir -p "$tfjs"
  npm install --prefix "$tfjs" --no-save --no-audit --no-fund --prefer-offline --omit=peer --legacy-peer-deps \
    --loglevel=error "@tensorflow/tfjs-tflite@$tfjs_version" >/dev/null
fi
