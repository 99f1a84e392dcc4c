#!/bin/sh
# bench/generalization/screen.sh: one lever on the six screening folds
# (docs/generalization.md: 7398,7434,7463,9866,7623,9892; the other 12
# habitats are never used to choose anything). Prints the fold means and the
# per-habitat accuracy / balanced accuracy as a docs table row, and the wall
# time. Runs under nice -n 15 (shared machine).
#
#   bench/generalization/screen.sh NAME INPUT [reef cv options...]
#
# INPUT: diff (prep --background running-diff), absdiff, framenorm, clipnorm
# (bench_generalization_variants), or warm (the diff input scored, trained on
# it plus two warm-up/dropped-frame copies: reef cv --train-data), or temporal
# context (session 8; 2 channels, with --arch archs/fish-nas-2ch.arch):
# previous, lag4, slow (prep --background running-diff-previous|-lag4|-slow),
# or the path of a dataset file made elsewhere (e.g. a variant of slow's file
# by a session's script; session 13).
# Environment: BUILD (default build), WORK (default /tmp/reef-screen),
# DEEPFISH_ROOT (default ../shared/data/deepfish), SCREEN_GROUPS, JOBS (2),
# SIZE (RxR input for the temporal inputs, e.g. 64x64; default 32x32: prep's
# --size; session 11's resolution screens).
# Arch variants screened in session 5: archs/*.arch (--arch FILE).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$here/build}
work=${WORK:-/tmp/reef-screen}
root=${DEEPFISH_ROOT:-$here/../shared/data/deepfish}
groups=${SCREEN_GROUPS:-7398,7434,7463,9866,7623,9892}
name=$1 input=$2
shift 2
mkdir -p "$work"
reef="nice -n 15 $build/reef"
variants="nice -n 15 $build/bench/generalization/bench_generalization_variants"
[ -f "$work/frames.ds" ] || $reef prep --format deepfish --root "$root" --split frames -o "$work/frames.ds" >/dev/null
case $input in
diff | absdiff | framenorm | clipnorm)
    [ -f "$work/$input.ds" ] || $variants "$input" "$work/frames.ds" "$work/$input.ds" >/dev/null
    data=$work/$input.ds train= ;;
previous | lag4 | slow)
    size=${SIZE:-32x32}
    file=$work/$input.ds
    [ "$size" = 32x32 ] || file=$work/$input-$size.ds
    [ -f "$file" ] || $reef prep --format deepfish --root "$root" --split frames --size "$size" \
        --background "running-diff-$input" -o "$file" >/dev/null
    data=$file train= ;;
warm)
    [ -f "$work/diff.ds" ] || $variants diff "$work/frames.ds" "$work/diff.ds" >/dev/null
    [ -f "$work/warm.ds" ] || $variants warm "$work/frames.ds" "$work/warm.ds" 1 >/dev/null
    data=$work/diff.ds train="--train-data $work/warm.ds" ;;
*.ds)
    [ -f "$input" ] || { echo "screen.sh: no dataset file '$input'" >&2; exit 2; }
    data=$input train= ;;
*) echo "screen.sh: unknown input '$input'" >&2; exit 2 ;;
esac
start=$(date +%s)
# shellcheck disable=SC2086
$reef cv --data "$data" $train --groups "$groups" --jobs "${JOBS:-2}" --json "$@" >"$work/screen-$name.json"
wall=$(($(date +%s) - start))
python3 - "$work/screen-$name.json" "$name" "$wall" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["int8"] if "int8" in d else d["float"]
per = ", ".join("%s %.1f/%.1f" % (g["group"], 100 * g["accuracy"], 100 * g["balanced_accuracy"]) for g in r["groups"])
print("| %s | %.1f%% | %.1f%% | %s | %s s |" % (sys.argv[2], 100 * r["mean_accuracy"], 100 * r["mean_balanced_accuracy"], per, sys.argv[3]))
PY
