#!/usr/bin/env bash
# Frames per second of `reef prep` (all cores, and 1 thread) against Pillow
# (one process: draft + convert('L') + BOX resize to 32x32), same frames,
# same run, medians of RUNS runs (default 5), runs interleaved.
#   bench/prep/run.sh [BUILD]        (BUILD defaults to build)
# Data: the shared DeepFish frames (360x202, all of frames.csv) when present,
# and COUNT (default 200) synthetic 1920x1080 JPEGs made by
# bench_prep_gen_frames. reef's time is the whole process (start-up, CSV,
# decoding, writing the file); Pillow's is its decode loop only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
runs=${RUNS:-5}
count=${COUNT:-200}
shared=${REEF_SHARED:-$top/../shared}
reef=$build/reef
gen=$build/bench/prep/bench_prep_gen_frames
python=/usr/bin/python3

[[ -x $reef && -x $gen ]] || { echo "build first: cmake --build $build --target reef bench_prep_gen_frames" >&2; exit 1; }
$python -c 'import PIL' 2>/dev/null || { echo "Pillow missing: scripts/deps.sh --bench" >&2; exit 1; }

work=$(mktemp -d /tmp/reef-bench-prep-XXXXXX)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# reef_fps FRAMES ARGS... : "frames/s frames/CPU-s" of one whole `reef prep`
# process (CPU = user + system time of all its threads)
reef_fps() {
  local frames=$1; shift
  local t0 t1
  t0=$(now)
  /usr/bin/time -f "%U %S" -o "$work/cpu.txt" "$reef" prep "$@" -o "$work/out.ds" --json >"$work/reef.json"
  t1=$(now)
  grep -q "\"count\":$frames" "$work/reef.json" || { echo "reef prep made the wrong count" >&2; cat "$work/reef.json" >&2; exit 1; }
  awk -v n="$frames" -v a="$t0" -v b="$t1" '{printf "%.1f %.1f\n", n / (b - a), n / ($1 + $2)}' "$work/cpu.txt"
}

# bench NAME FRAMES LISTFILE REEF_ARGS... : one table row
bench() {
  local name=$1 frames=$2 list=$3; shift 3
  local r2=() r1=() pil=() ratio=() rcpu=() pcpu=()
  "$reef" prep "$@" -o "$work/out.ds" --json >/dev/null   # warm the page cache
  for ((i = 0; i < runs; i++)); do
    local a b p ac pc
    read -r a ac < <(reef_fps "$frames" "$@")
    read -r b _ < <(reef_fps "$frames" "$@" --threads 1)
    read -r _ _ p pc < <($python "$here/pil_prep.py" "$list")
    [[ -n $a && -n $b && -n $p ]] || { echo "a run failed" >&2; exit 1; }
    r2+=("$a"); r1+=("$b"); pil+=("$p"); rcpu+=("$ac"); pcpu+=("$pc")
    ratio+=("$(awk -v a="$a" -v p="$p" 'BEGIN {printf "%.2f", a / p}')")
  done
  local kb
  kb=$(xargs -a "$list" du -b | awk '{s += $1} END {printf "%.0f", s / NR / 1024}')
  printf "%-20s %5d %6s %9.0f %9.0f %9.0f %6.2f %9.0f %9.0f\n" "$name" "$frames" "${kb}" \
    "$(printf '%s\n' "${r2[@]}" | median)" "$(printf '%s\n' "${r1[@]}" | median)" \
    "$(printf '%s\n' "${pil[@]}" | median)" "$(printf '%s\n' "${ratio[@]}" | median)" \
    "$(printf '%s\n' "${rcpu[@]}" | median)" "$(printf '%s\n' "${pcpu[@]}" | median)"
}

echo "reef prep vs Pillow, 32x32 gray, medians of $runs runs on $(nproc) cores ($(date +%F), load average before: $(cut -d" " -f1-3 /proc/loadavg))"
printf "%-20s %5s %6s %9s %9s %9s %6s %9s %9s\n" "frames" "count" "KB/img" "reef" "reef 1thr" "Pillow" "ratio" "reef/CPU" "Pil/CPU"
printf -- "-%.0s" {1..92}; echo

df=$shared/data/deepfish
if [[ -f $df/Classification/frames.csv ]]; then
  tail -n +2 "$df/Classification/frames.csv" | cut -d, -f1 | sed "s|^|$df/Classification/|; s|\$|.jpg|" >"$work/df.list"
  n=$(wc -l <"$work/df.list")
  bench "DeepFish 360x202" "$n" "$work/df.list" --format deepfish --root "$df" --split frames
else
  echo "DeepFish frames not found under $df: skipped"
fi

mkdir -p "$work/hd"
"$gen" "$work/hd" "$count" 1920 1080
find "$work/hd" -name '*.jpg' | sort >"$work/hd.list"
bench "synthetic 1920x1080" "$count" "$work/hd.list" --format folders --root "$work/hd"
echo "frames/s (wall clock); ratio = reef (all cores) / Pillow, per run, median;"
echo "X/CPU = frames per CPU-second (user + system), which other jobs on the machine disturb less;"
echo "reef counts its whole process (start-up, listing, decoding, writing), Pillow its decode loop"
echo "load average after: $(cut -d" " -f1-3 /proc/loadavg)"
