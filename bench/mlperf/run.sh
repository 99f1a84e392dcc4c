#!/bin/sh
# The MLPerf Tiny models on the emulated Cortex-M4: builds bench_mlperf (and
# the QEMU plugin) in BUILD (default build) and runs it. Extra
# arguments go to bench_mlperf (--steps, --models kws,ad, --json).
set -e
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target bench_mlperf >/dev/null
export REEF_SOURCE="$here"
exec "$build/bench/mlperf/bench_mlperf" "$@"
