#!/bin/sh
# Reproduces docs/personalization.md's tables: a source model trained
# without the held-out habitats, its 64K plan, and `reef personalize` on
# the host over habitats x 3 draws (bench/personal/sweep.py; guard K 15,
# M 1 since session 12, 0 before, unless --hold-back / --guard-margin / --refit-epochs say otherwise).
#   bench/personal/run.sh BUILD WORK [r64|gray|slow|nas] [tune|measure] [sweep.py options]
# r64 (the default since session 13) = archs/fish-nas-2ch-r64-c8e2.arch, the
# shipped default, at 64x64; its plan is made with --temporal and every run
# sends the camera's gray frames (--stream: the device forms [d, s]).
# Session 13's chosen recipe was applied with --set train=3,2,2,2,0,2,0,3
# --set lr=0.15; since session 14 `plan --tune` chooses it itself (the
# same recipe for r64; docs/personalization.md). Run with --labelled-balance.
# Bases: gray = fish-s on gray frames; slow = fish-s-2ch (2-channel
# running-diff-slow input); nas = archs/fish-nas-2ch.arch, reef's fish
# default since session 9 (the same input).
# The plan is whatever `reef personalize plan --ram 64K --tune` chooses (session
# 11: the nas base's plan trains the mbconv2 and mbconv3 expand weights,
# 300 habitat-balanced replay samples, refit 3; session 12: 5 site + 4 replay
# samples per step). Session 12's figures add --labelled-balance (sweep.py).
# HELD: the habitats no model sees in training or model selection. Session
# 10's default holds out the four tuning habitats (7490, 7434, 9866, 9907:
# every choice is made on them) and the three measured ones (7398, 7623,
# 9892: never used for a choice). Session 9's tables used
# HELD=7490,7434,7398,7623,9892 (then tune = 7490,7434).
set -eu
build=$1 work=$2 base=${3:-r64} which=${4:-measure}
shift 2; [ $# -gt 0 ] && shift; [ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
root=${DEEPFISH:-$here/../../../shared/data/deepfish}
reef="nice -n 15 $build/reef"
held=${HELD:-7490,7434,9866,9907,7398,7623,9892}
tune=${TUNE:-7490,7434,9866,9907}
measure=7398,7623,9892
mkdir -p "$work"
cd "$work"
size= temporal=
case $base in
gray) bg= arch=fish-s data=gray ;;
slow) bg="--background running-diff-slow --background-over clip" arch=$here/fish-s-2ch.arch data=slow ;;
nas) bg="--background running-diff-slow --background-over clip" arch=$here/../../archs/fish-nas-2ch.arch data=slow ;;
r64) bg="--background running-diff-slow --background-over clip" arch=$here/../../archs/fish-nas-2ch-r64-c8e2.arch data=slow64 size="--size 64x64" temporal=--temporal ;;
*) echo "run.sh: base is r64, gray, slow or nas, not '$base'" >&2; exit 2 ;;
esac
tag=$base-$(echo "$held" | tr ',' '-')
for s in train val test frames; do
    # shellcheck disable=SC2086
    [ -f $data-$s.ds ] || $reef prep --format deepfish --root "$root" --split $s --threads ${THREADS:-1} $size $bg -o $data-$s.ds >/dev/null
done
for s in train val test; do
    [ -f $tag-src-$s.ds ] || $reef personalize split --data $data-$s.ds --groups $held --exclude -o $tag-src-$s.ds >/dev/null
done
for h in $(echo "$tune,$measure" | tr ',' ' '); do
    [ -f $data-site-$h.ds ] || $reef personalize split --data $data-frames.ds --groups $h -o $data-site-$h.ds >/dev/null
done
[ -f $tag-src.ckpt ] || $reef train --threads ${THREADS:-1} --arch "$arch" --train $tag-src-train.ds --val $tag-src-val.ds -o $tag-src.ckpt --json >/dev/null
[ -f $tag-src.tflite ] || $reef quantize --model $tag-src.ckpt --calib $tag-src-train.ds -o $tag-src.tflite >/dev/null
# session 14: the planner measures its recipes on the tuning habitats (draws
# 1-6) for this base and writes the best by its rule (test drop <= 1.0 mean,
# 3.0 worst, then the highest site figure): no --set needed
tune_sites=$(echo "$tune" | tr ',' '\n' | sed "s/.*/$data-site-&.ds/" | paste -sd, -)
$reef personalize plan --model $tag-src.tflite --ram 64K $temporal --tune "$tune_sites" \
    --source $tag-src-train.ds --test $tag-src-test.ds --labelled-balance --tune-draws 1,2,3,4,5,6 -o $tag-64k.plan >/dev/null
sites=$measure
[ "$which" = tune ] && sites=$tune
stream=
if [ $base = r64 ]; then # session 13: the device forms the temporal input from the camera's gray frames
    [ -f gray64-frames.ds ] || $reef prep --format deepfish --root "$root" --split frames --threads ${THREADS:-1} --size 64x64 -o gray64-frames.ds >/dev/null
    stream="--stream gray64-frames.ds"
fi
[ "$which" = prepare ] && exit 0
nice -n 15 /usr/bin/python3 "$here/sweep.py" --reef "$build/reef" --model $tag-src.tflite --plan $tag-64k.plan \
    --sites $sites --site-pattern "$data-site-{}.ds" --source $tag-src-train.ds --test $tag-src-test.ds $stream "$@"
