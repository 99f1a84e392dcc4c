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

# reef_fps FRAMES ARGS... : frames/s of one whole `reef prep` process
reef_fps() {
  local frames=$1; shift
  local t0 t1
  t0=$(now)
  "$reef" prep "$@" -o "$work/out.ds" --json >"$work/reef.json"
  t1=$(now)
  grep -q "\"count\":$frames" "$work/reef.json" || { echo "reef prep made the wrong count" >&2; cat "$work/reef.json" >&2; exit 1; }
  awk -v n="$frames" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f\n", n / (b - a)}'
}

# bench NAME FRAMES LISTFILE REEF_ARGS... : one table row
bench() {
  local name=$1 frames=$2 list=$3; shift 3
  local r2=() r1=() pil=() ratio=()
  "$reef" prep "$@" -o "$work/out.ds" --json >/dev/null   # warm the page cache
  for ((i = 0; i < runs; i++)); do
    local a b p
    a=$(reef_fps "$frames" "$@")
    b=$(reef_fps "$frames" "$@" --threads 1)
    p=$($python "$here/pil_prep.py" "$list" | awk '{print $3}')
    r2+=("$a"); r1+=("$b"); pil+=("$p")
    ratio+=("$(awk -v a="$a" -v p="$p" 'BEGIN {printf "%.2f", a / p}')")
  done
  local kb
  kb=$(xargs -a "$list" du -b | awk '{s += $1} END {printf "%.0f", s / NR / 1024}')
  printf "%-22s %6d %7s %10.0f %10.0f %10.0f %8.2f\n" "$name" "$frames" "${kb}" \
    "$(printf '%s\n' "${r2[@]}" | median)" "$(printf '%s\n' "${r1[@]}" | median)" \
    "$(printf '%s\n' "${pil[@]}" | median)" "$(printf '%s\n' "${ratio[@]}" | median)"
}

echo "reef prep vs Pillow, 32x32 gray, medians of $runs runs on $(nproc) cores ($(date +%F))"
printf "%-22s %6s %7s %10s %10s %10s %8s\n" "frames" "count" "KB/img" "reef fps" "reef 1thr" "Pillow" "ratio"
printf -- "-%.0s" {1..79}; echo

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
echo "ratio = reef (all cores) / Pillow, per run, median; reef fps counts the whole process"
