#!/bin/sh
# The host power-failure campaign of issue 13: `reef run --intermittent
# --target host` runs each model's resumable schedule (the runtime C the MCU
# runs) over an NVM in host memory whose power fails inside chosen writes.
# For each model and schedule (a commit after every step; the 100 uF one, or
# 470 uF for a model no tiling fits into 100 uF):
# a failure at every write of a failure-free run and at every byte of the
# progress record's writes (--fail-writes), then random failures
# (--fail-random), all outputs compared with the continuous run. Prints each
# table and the totals. Usage:
#   bench/intermittent/run.sh [--failures N] [--inputs K] [--commit every|ends|random]
# N random failures in all (default 100000), shared equally by the models and
# schedules; K inputs per run (default 2: runs cross job boundaries);
# --commit: which points commit (reef run --intermittent --commit; default every).
# Models: MLPerf Tiny KWS and AD (../shared/models), fish-nas and fish-s
# (one epoch on the DeepFish test split, cached in WORK: only the failures
# are measured here, and weights' values do not change the schedule). BUILD (default build) holds
# reef; WORK (default /tmp/reef-intermittent-bench). Times are measured.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build}
work=${WORK:-/tmp/reef-intermittent-bench}
shared=${REEF_SHARED:-$here/../shared}
data=${DEEPFISH:-$shared/data/deepfish}
failures=100000
inputs=2
commit=every
while [ $# -gt 0 ]; do
    case $1 in
    --failures) failures=$2; shift 2 ;;
    --inputs) inputs=$2; shift 2 ;;
    --commit) commit=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
reef="$build/reef"
[ -x "$reef" ] || { echo "run.sh: $reef is not built (make build)" >&2; exit 1; }
command -v jq >/dev/null || { echo "run.sh: needs jq (scripts/deps.sh)" >&2; exit 1; }
mkdir -p "$work"
# the schedules plan from step cycles measured on qemu-m4 (reef gen): cached here
export REEF_CACHE_DIR="${REEF_CACHE_DIR:-$work/cache}"

# model name, .tflite, and its input arguments
set --
for m in kws ad; do
    tfl=$(awk -F, -v m=$m '$1 == m { print $2; exit }' "$shared/models/manifest.csv" 2>/dev/null || true)
    [ -n "$tfl" ] || { echo "run.sh: no $m in $shared/models/manifest.csv: left out" >&2; continue; }
    : >"$work/$m.in"
    for k in $(seq 0 $((inputs - 1))); do cat "$shared/models/vectors/$m/${m}_lcg$k.in.bin" >>"$work/$m.in"; done
    set -- "$@" "$m|$shared/models/$tfl|--inputs $work/$m.in"
done
if [ -d "$data" ]; then
    [ -f "$work/test.ds" ] || "$reef" prep --format deepfish --root "$data" --split test -o "$work/test.ds" >/dev/null
    for net in fish-nas fish-s; do
        if [ ! -f "$work/$net.tflite" ]; then
            "$reef" train --arch "$here/archs/$net.arch" --train "$work/test.ds" --epochs 1 -o "$work/$net.ckpt" >/dev/null
            "$reef" quantize --model "$work/$net.ckpt" --calib "$work/test.ds" -o "$work/$net.tflite" >/dev/null
        fi
        set -- "$@" "$net|$work/$net.tflite|--data $work/test.ds --limit $inputs"
    done
else
    echo "run.sh: no DeepFish data at $data: fish-nas and fish-s left out" >&2
fi
per=$((failures / ($# * 2) + 1))
total=$work/totals.jsonl
: >"$total"
start=$(date +%s)
for spec in "$@"; do
    name=${spec%%|*}; rest=${spec#*|}; tfl=${rest%%|*}; args=${rest#*|}
    for cap in none 100u; do
        capopt=""
        [ $cap = none ] || capopt="--capacitor $cap"
        # a model no tiling fits into 100 uF (KWS's first convolution) gets 470 uF
        # shellcheck disable=SC2086
        if [ $cap = 100u ] && ! "$reef" gen --model "$tfl" -o "$work/gen-check" --intermittent $capopt >/dev/null 2>&1; then
            cap=470u capopt="--capacitor 470u"
        fi
        rm -rf "$work/gen-check"
        echo "== $name, schedule: $cap"
        # shellcheck disable=SC2086
        if "$reef" run --intermittent --target host --model "$tfl" $args $capopt --commit $commit --fail-writes --fail-random $per \
            --json >"$work/$name-$cap.json"; then
            jq -r '.failure_runs[] | "  \(.failures_at): \(.power_failures) failures (\(.in_record_writes) in record writes, \(.torn_bytes) torn), \(.resumes) resumes, \(.outputs - .outputs_differing) of \(.outputs) outputs equal, \(.hangs) hangs, \(.seconds_measured | . * 10 | round / 10) s"' "$work/$name-$cap.json"
            jq -c --arg m "$name" --arg c "$cap" '.failure_runs[] + {model: $m, schedule: $c}' "$work/$name-$cap.json" >>"$total"
        else
            echo "  (no run: see the message above)"
        fi
    done
done
echo
echo "== totals (commit: $commit; host: $(uname -m), measured wall time $(( $(date +%s) - start )) s)"
jq -s -r 'group_by(.failures_at)[] | "\(.[0].failures_at): \(map(.power_failures) | add) failures in \(map(.runs) | add) runs (\(map(.in_record_writes) | add) in record writes, \(map(.torn_bytes) | add) torn), \(map(.resumes) | add) resumes, \(map(.outputs - .outputs_differing) | add) of \(map(.outputs) | add) outputs equal, \(map(.hangs) | add) hangs, \(map(.seconds_measured) | add | round) s"' "$total"
