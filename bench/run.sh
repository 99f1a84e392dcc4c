#!/usr/bin/env bash
# make bench: every benchmark, each printing its figures (none is a test).
#   bench/run.sh [BUILD]     BUILD defaults to build
# The comparison baselines (Pillow, PyTorch) are installed on first use by
# scripts/deps.sh --bench. The fuzzer (10^6 executions, ~10 minutes) is not
# run here: bench/fuzz/run.sh.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
"$top/scripts/deps.sh" --bench
cmake --build "$build" -j"$(nproc)" >/dev/null

echo "== reef prep vs Pillow (frames/s)"
"$top/bench/prep/run.sh" "$build"
echo
echo "== reef train vs PyTorch (images/s, fish-s on DeepFish)"
"$top/bench/train/run.sh" "$(basename "$build")"
echo
echo "== MLPerf Tiny models on the emulated Cortex-M4 (exact instruction counts)"
BUILD="$build" "$top/bench/mlperf/run.sh"
echo
echo "== reef train over MPI ranks (functional check here; modeled cluster efficiency)"
"$top/bench/mpi/run.sh" "$(basename "$build")"
