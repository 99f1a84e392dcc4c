#!/bin/sh
# make demo: the whole reef pipeline on DeepFish, ending with the paper's
# Table 1 for the model it made.
#   prep -> [search] -> train fish-nas (its spec's recipe: 60 epochs) -> quantize -> gen -> emulated Cortex-M4 run -> report
#
# usage: examples/deepfish/run.sh [BUILD [SEARCH]] [--root DIR] [--temporal | --site | --gray]
#   BUILD   the CMake build folder holding `reef` (default build)
#   SEARCH  1: run `reef search` first and train what it finds (default 0)
#   --root  a DeepFish download (the folder holding Classification/); else
#           $DEEPFISH_ROOT, else ../shared/data/deepfish next to the repository;
#           when none is there, Fashion-MNIST from /usr/share/datasets (Debian).
#   --temporal  (the default on DeepFish without SEARCH; `make demo`) temporal context: two channels per
#           pixel, the difference to the camera's running background and to a background
#           8x slower (prep/run --background running-diff-slow), at 64x64
#           (archs/fish-nas-2ch-r64-c8e2.arch, the fish default; every file prepped --size 64x64);
#           the firmware forms both channels and the model's input map itself from raw
#           gray frames, fed every frame of each test clip in order (reef run --stream;
#           the test split's frames scored). Best of reef's inputs at habitats never
#           trained on and on the frame-random test split (docs/generalization.md).
#   --gray  gray frames (fish-nas as searched; `make demo GRAY=1`)
#   --site  the 1-channel input: the difference of each frame to the
#           camera's running background (prep --background running-diff; the firmware
#           keeps the background itself: run --background running-diff). Better at
#           habitats never trained on, worse on the frame-random test split
#           (docs/generalization.md). DeepFish only.
# Everything goes to out/deepfish/ (git-ignored). Budget: 15 minutes on 2 cores.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=build
search=0
site=""
root=""
positional=0
while [ $# -gt 0 ]; do
    case "$1" in
    --root) root=${2:?--root needs a folder}; shift 2 ;;
    --root=*) root=${1#--root=}; shift ;;
    --site) site=1; shift ;;
    --temporal) site=2; shift ;;
    --gray) site=0; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *)
        if [ $positional -eq 0 ]; then build=$1; else search=$1; fi
        positional=$((positional + 1)); shift ;;
    esac
done

case "$build" in /*) ;; *) build="$repo/$build" ;; esac
reef="$build/reef"
[ -x "$reef" ] || { echo "run.sh: $reef is not built (make build)" >&2; exit 1; }
out="$repo/out/deepfish"
mkdir -p "$out"
start=$(date +%s)

step=0
stage() {
    step=$((step + 1))
    printf '\n== [%d] %s  (%ds so far)\n' "$step" "$1" $(( $(date +%s) - start ))
}

# ---- the data ----------------------------------------------------------------
if [ -z "$root" ] && [ -n "${DEEPFISH_ROOT:-}" ]; then root=$DEEPFISH_ROOT; fi
if [ -z "$root" ] && [ -d "$repo/../shared/data/deepfish" ]; then root="$repo/../shared/data/deepfish"; fi
epochs=""
limit=""
if [ -n "$root" ] && [ -f "$root/Classification/train.csv" ]; then
    kind=deepfish
    echo "run.sh: DeepFish from $root"
elif [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    kind=fashion-mnist
    [ -n "$root" ] && echo "run.sh: $root has no Classification/train.csv (not a DeepFish download)"
    echo "run.sh: no DeepFish data found (use --root DIR or DEEPFISH_ROOT); falling back to Fashion-MNIST"
    echo "        (/usr/share/datasets/fashion-mnist): 2 training epochs, the first 2000 test images on the M4"
    epochs="--epochs 2"
    limit="--limit 2000"
else
    echo "run.sh: no data: no DeepFish folder (--root DIR, DEEPFISH_ROOT or ../shared/data/deepfish)" >&2
    echo "        and no Fashion-MNIST (scripts/deps.sh installs it)" >&2
    exit 1
fi

if [ -z "$site" ]; then # the default: temporal context on DeepFish, gray frames on Fashion-MNIST
    site=0              # and with SEARCH=1 (the search runs on gray frames)
    [ $kind = deepfish ] && [ "$search" != 1 ] && site=2
fi
size=""  # the fish default (--temporal) sees 64x64 frames; every other input the 32x32 default
[ $site = 2 ] && size="--size 64x64"
[ $site != 0 ] && [ $kind != deepfish ] && { echo "run.sh: --site/--temporal need DeepFish (clips of a fixed camera)" >&2; exit 1; }
stage "prep: images -> dataset files ($kind)"
for split in train val test; do
    if [ $kind = deepfish ]; then
        # shellcheck disable=SC2086
        "$reef" prep --format deepfish --root "$root" --split $split $size -o "$out/$split.ds"
        if [ $site = 1 ]; then # the model's input: the difference to the clip's running background,
            # run over every frame of the clip (what the camera sees), not the split's sparse frames
            "$reef" prep --format deepfish --root "$root" --split $split --background running-diff \
                --background-over clip -o "$out/$split-diff.ds"
        elif [ $site = 2 ]; then # the same beside the difference to a slower background
            # shellcheck disable=SC2086
            "$reef" prep --format deepfish --root "$root" --split $split $size --background running-diff-slow \
                --background-over clip -o "$out/$split-diff.ds"
        fi
    elif [ $split != val ]; then
        idx_split=$split
        "$reef" prep --format idx --split $idx_split -o "$out/$split.ds"
    fi
done
if [ $site != 0 ]; then # the camera's whole stream: every frame of every clip, gray; the firmware's
    # backgrounds run over all of them and the test split's frames are scored (reef run --stream)
    # shellcheck disable=SC2086
    "$reef" prep --format deepfish --root "$root" --split frames $size -o "$out/frames.ds"
fi
valopt="--val $out/val.ds"
if [ $kind != deepfish ]; then
    valopt=""  # Fashion-MNIST has no validation split
    rm -f "$out/val.ds"
fi

arch=fish-nas  # the best shipped net; its spec carries its recipe
if [ "$search" = 1 ]; then
    stage "search: ProxylessNAS on the emulated Cortex-M4's costs"
    if "$reef" --help | grep -q '^  search '; then
        # shellcheck disable=SC2086
        if "$reef" search --train "$out/train.ds" $valopt --max-flash 64 --max-ram 32 \
            --max-latency-ms 15 --clock 120 --profile stm32l4r5 --costs "$out/reef-costs-stm32l4r5.table" \
            -o "$out/search.arch"; then
            arch="$out/search.arch"
        else
            echo "run.sh: reef search failed; continuing with the shipped fish-nas"
        fi
    else
        echo "run.sh: this reef has no 'search' command yet; continuing with the shipped fish-nas"
    fi
fi

# with --site the net learns, and is scored, on the differences; the firmware is
# given the raw gray frames and forms the differences itself
in=""
bgopt=""
if [ $site = 1 ]; then
    in="-diff"
    valopt="--val $out/val-diff.ds"
    bgopt="--background running-diff --stream $out/frames.ds"
elif [ $site = 2 ]; then
    [ "$arch" = fish-nas ] || echo "run.sh: --temporal trains archs/fish-nas-2ch-r64-c8e2.arch, not the searched net (search runs on gray frames)"
    in="-diff"
    valopt="--val $out/val-diff.ds"
    bgopt="--background running-diff-slow --stream $out/frames.ds"
    arch="$repo/archs/fish-nas-2ch-r64-c8e2.arch"
fi

stage "train: $arch (float, plain C)"
# shellcheck disable=SC2086
"$reef" train --arch "$arch" --train "$out/train$in.ds" $valopt $epochs -o "$out/model.ckpt"

stage "quantize: static int8 post-training quantization"
"$reef" quantize --model "$out/model.ckpt" --calib "$out/train$in.ds" -o "$out/model.tflite"

stage "gen: int8 model -> C"
"$reef" gen --model "$out/model.tflite" -o "$out/gen" --name fish

stage "run: the generated C on the emulated Cortex-M4 (every test image, one QEMU run)"
# with --site/--temporal: fed every frame of the test clips in order (the camera's stream), the
# backgrounds formed on the device, the test split's frames scored: the report's int8 inputs
# shellcheck disable=SC2086
"$reef" run --target qemu-m4 --model "$out/model.tflite" --data "$out/test.ds" --work "$out/fw" $limit $bgopt \
    > "$out/run.txt"
cat "$out/run.txt"

stage "report: the paper's Table 1 for this model"
# shellcheck disable=SC2086
"$reef" report --float "$out/model.ckpt" --int8 "$out/model.tflite" --data "$out/test$in.ds" \
    --profile stm32l4r5 --work "$out/report" $limit > "$out/report.md"
printf '\n'
cat "$out/report.md"
printf '\nrun.sh: done in %ds; everything is in %s (report.md, model.ckpt, model.tflite, gen/)\n' \
    $(( $(date +%s) - start )) "$out"
