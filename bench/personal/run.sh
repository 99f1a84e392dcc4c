#!/bin/sh
# Reproduces docs/personalization.md's session-9 table: the source model
# (gray fish-s, or the 2-channel slow-background fish-s with BASE=slow)
# trained without the tuning habitats (7490, 7434) and the measured ones
# (7398, 7623, 9892), its 64K plan, and `reef personalize` on the host over
# habitats x 3 draws (bench/personal/sweep.py; guard K 15, M 0 unless
# --hold-back / --guard-margin say otherwise).
#   bench/personal/run.sh BUILD WORK [gray|slow] [tune|measure] [sweep.py options]
set -eu
build=$1 work=$2 base=${3:-slow} which=${4:-measure}
shift 2; [ $# -gt 0 ] && shift; [ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
root=${DEEPFISH:-$here/../../../shared/data/deepfish}
reef="nice -n 15 $build/reef"
held=7490,7434,7398,7623,9892
mkdir -p "$work"
cd "$work"
case $base in
gray) bg= arch=fish-s ;;
slow) bg="--background running-diff-slow --background-over clip" arch=$here/fish-s-2ch.arch ;;
*) echo "run.sh: base is gray or slow, not '$base'" >&2; exit 2 ;;
esac
for s in train val test frames; do
    # shellcheck disable=SC2086
    [ -f $base-$s.ds ] || $reef prep --format deepfish --root "$root" --split $s --threads 1 $bg -o $base-$s.ds >/dev/null
done
for s in train val test; do
    [ -f $base-src-$s.ds ] || $reef personalize split --data $base-$s.ds --groups $held --exclude -o $base-src-$s.ds >/dev/null
done
for h in 7490 7434 7398 7623 9892; do
    [ -f $base-site-$h.ds ] || $reef personalize split --data $base-frames.ds --groups $h -o $base-site-$h.ds >/dev/null
done
[ -f $base-src.ckpt ] || $reef train --arch "$arch" --train $base-src-train.ds --val $base-src-val.ds -o $base-src.ckpt --json >/dev/null
[ -f $base-src.tflite ] || $reef quantize --model $base-src.ckpt --calib $base-src-train.ds -o $base-src.tflite >/dev/null
$reef personalize plan --model $base-src.tflite --ram 64K -o $base-64k.plan >/dev/null
sites=7398,7623,9892
[ "$which" = tune ] && sites=7490,7434
nice -n 15 /usr/bin/python3 "$here/sweep.py" --reef "$build/reef" --model $base-src.tflite --plan $base-64k.plan \
    --sites $sites --site-pattern "$base-site-{}.ds" --source $base-src-train.ds --test $base-src-test.ds "$@"
