#!/usr/bin/env bash
# Builds the libFuzzer target on the .tflite reader (clang 14,
# -fsanitize=fuzzer,address,undefined), seeds it with the four MLPerf Tiny
# models and the crash regressions, runs it and prints the number of
# executions and whether anything crashed. New crash inputs are left in the
# output folder: copy each into tests/tflite/crashes/ as a regression test.
#   bench/fuzz/run.sh [RUNS]        RUNS defaults to 1000000
#   FUZZ_OUT=dir  output folder (default build-fuzz)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-1000000}
out=${FUZZ_OUT:-$root/build-fuzz}
shared=${REEF_SHARED:-$root/../shared}
mkdir -p "$out/corpus"

clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I "$root/src" \
  "$here/fuzz_tflite.c" "$root"/src/tflite/*.c \
  "$root/src/util/err.c" "$root/src/util/io.c" "$root/src/util/json.c" "$root/src/util/table.c" \
  -o "$out/fuzz_tflite"

seeds=0
for f in "$shared"/models/models/*.tflite "$root"/tests/tflite/crashes/*.tflite; do
  [[ -f "$f" ]] || continue
  cp "$f" "$out/corpus/"
  seeds=$((seeds + 1))
done
echo "fuzz: $seeds seed files, $runs runs"

rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-*
set +e
(cd "$out" && ./fuzz_tflite -runs="$runs" -artifact_prefix="$out/" -print_final_stats=1 corpus) > "$out/fuzz.log" 2>&1
status=$?
set -e
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$' || echo "?")
speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$' || echo "?")
found=$(find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
echo "fuzz: $execs executions ($speed/s), exit status $status, $found crashing inputs"
if ((found)); then
  find "$out" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \)
  grep -m5 -A5 'ERROR' "$out/fuzz.log" || true
  exit 1
fi
