#!/usr/bin/env bash
# Builds the libFuzzer targets on every reader (clang 14,
# -fsanitize=fuzzer,address,undefined), seeds each with its committed corpus
# (bench/fuzz/seeds/TARGET/; tflite also with ../shared's MLPerf models and
# tests/tflite/crashes), runs each and prints a table: executions,
# executions per second, crashing inputs. New crash inputs are left in the
# output folder: copy each into the reader's tests as a regression test.
#   bench/fuzz/run.sh [SECONDS] [TARGET...]   SECONDS per target (default 60)
#   FUZZ_RUNS=N   stop each target after N executions instead of SECONDS
#   FUZZ_OUT=dir  output folder (default build-fuzz)
# Targets: tflite dataset checkpoint arch costs profile deepfish idx jpeg png.
# Exit status 1 when anything crashed, leaked, timed out or ran out of memory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(tflite dataset checkpoint arch costs profile deepfish idx jpeg png)
out=${FUZZ_OUT:-$root/build-fuzz}
shared=${REEF_SHARED:-$root/../shared}
mkdir -p "$out/obj"

flags=(-std=c11 -g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
       -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I "$root/src" -I "$root/runtime/include"
       -DREEF_SOURCE_DIR="\"$root\"" -DREEF_QEMU_PLUGIN_PATH="\"\"")
libs=(-ljpeg -lpng -lz -lopenblas -lm -lpthread)

# libreef once, instrumented (only what changed is recompiled). A file clang
# cannot compile (nn/kernels.c: GCC vector extensions; the float compute
# kernels, no reader) is compiled by gcc without instrumentation and named.
objs=()
plain=()
# Every area of libreef (src/*/), so a new or renamed area needs no edit here.
for src in "$root"/src/*/*.c "$root"/runtime/src/*.c; do
  o="$out/obj/$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
  if [[ ! -f "$o" || "$src" -nt "$o" ]]; then
    if ! clang "${flags[@]}" -c "$src" -o "$o" 2>"$o.log"; then
      gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I "$root/src" -I "$root/runtime/include" \
        -c "$src" -o "$o"
      echo "$src" > "$o.plain"
    else
      rm -f "$o.plain"
    fi
  fi
  [[ -f "$o.plain" ]] && plain+=("${src#$root/}")
  objs+=("$o")
done
((${#plain[@]})) && echo "fuzz: not instrumented (clang cannot compile them; gcc did): ${plain[*]}"
rm -f "$out/libreef_fuzz.a"
ar rcs "$out/libreef_fuzz.a" "${objs[@]}"

build() { # target, source, -D define
  clang "${flags[@]/fuzzer-no-link/fuzzer}" ${3:+-D$3} "$2" "$out/libreef_fuzz.a" "${libs[@]}" -o "$out/fuzz_$1"
}

status=0
printf '%-11s %6s %12s %9s %8s\n' target seeds executions 'exec/s' crashes | tee "$out/summary.txt"
total=0
for t in "${targets[@]}"; do
  case $t in
    tflite) build tflite "$here/fuzz_tflite.c" "" ;;
    jpeg|png) build "$t" "$here/fuzz_readers.c" FUZZ_IMAGE ;;
    *) build "$t" "$here/fuzz_readers.c" "FUZZ_${t^^}" ;;
  esac
  corpus="$out/corpus-$t"
  mkdir -p "$corpus"
  cp "$here/seeds/$t"/* "$corpus/" 2>/dev/null || true
  if [[ $t == tflite ]]; then
    cp "$shared"/models/models/*.tflite "$root"/tests/tflite/crashes/*.tflite "$corpus/" 2>/dev/null || true
  fi
  seeds=$(find "$here/seeds/$t" -type f 2>/dev/null | wc -l)
  rm -f "$out/$t"-crash-* "$out/$t"-leak-* "$out/$t"-timeout-* "$out/$t"-oom-*
  limit=(-max_total_time="$seconds")
  [[ -n "${FUZZ_RUNS:-}" ]] && limit=(-runs="$FUZZ_RUNS")
  set +e
  (cd "$out" && "./fuzz_$t" "${limit[@]}" -rss_limit_mb=2048 -timeout=20 -max_len=65536 \
      -artifact_prefix="$out/$t-" -print_final_stats=1 "$corpus") > "$out/fuzz-$t.log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz-$t.log" | grep -o '[0-9]*$' || echo 0)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$out/fuzz-$t.log" | grep -o '[0-9]*$' || echo 0)
  found=$(find "$out" -maxdepth 1 \( -name "$t-crash-*" -o -name "$t-leak-*" -o -name "$t-timeout-*" -o -name "$t-oom-*" \) | wc -l)
  printf '%-11s %6s %12s %9s %8s\n' "$t" "$seeds" "$execs" "$speed" "$found" | tee -a "$out/summary.txt"
  total=$((total + execs))
  if ((found || rc)); then
    status=1
    find "$out" -maxdepth 1 \( -name "$t-crash-*" -o -name "$t-leak-*" -o -name "$t-timeout-*" -o -name "$t-oom-*" \)
    grep -m3 -A12 'ERROR\|abort' "$out/fuzz-$t.log" || tail -20 "$out/fuzz-$t.log"
  fi
done
echo "fuzz: $total executions in all, exit status $status" | tee -a "$out/summary.txt"
exit $status
