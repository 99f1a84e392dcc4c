#!/bin/sh
# reef's own networks (fish-s, fish-nas) on the emulated Cortex-M4: prepares
# the DeepFish splits, trains each network briefly (weights' values do not
# change the instruction count), quantizes it and prints `reef run --target
# qemu-m4 --steps` (instructions per inference and per step, outputs checked
# against the host interpreter). Usage:
#   bench/reef-nets/run.sh [--nets fish-s,fish-nas] [--epochs N] [--limit N]
# BUILD (default build-perf) holds the reef executable; WORK (default
# /tmp/reef-nets) caches datasets and models between runs.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build-perf}
work=${WORK:-/tmp/reef-nets}
data=${DEEPFISH:-$here/../shared/data/deepfish}
nets=fish-s,fish-nas
epochs=2
limit=20
while [ $# -gt 0 ]; do
    case $1 in
    --nets) nets=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ ! -d "$data" ]; then
    echo "run.sh: SKIPPED: no DeepFish data at $data" >&2
    exit 0
fi
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target reef >/dev/null
reef="$build/reef"
export REEF_SOURCE="$here"
mkdir -p "$work"
for split in train test; do
    [ -f "$work/$split.ds" ] ||
        "$reef" prep --format deepfish --root "$data" --split $split -o "$work/$split.ds" >/dev/null
done
for net in $(echo "$nets" | tr ',' ' '); do
    model="$work/$net-e$epochs.tflite"
    arch=$net
    [ -f "$here/archs/$net.arch" ] && arch="$here/archs/$net.arch"
    if [ ! -f "$model" ]; then
        "$reef" train --arch "$arch" --train "$work/train.ds" --val "$work/test.ds" \
            --epochs "$epochs" -o "$work/$net-e$epochs.ckpt" >/dev/null
        "$reef" quantize --model "$work/$net-e$epochs.ckpt" --calib "$work/train.ds" -o "$model" >/dev/null
    fi
    echo "== $net"
    "$reef" run --target qemu-m4 --model "$model" --data "$work/test.ds" --limit "$limit" --steps
done
