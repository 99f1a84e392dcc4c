#!/bin/sh
# bench/generalization/screen3.sh: a lever screened over seeds 1-3 on the six
# screening folds (docs/generalization.md, session 13's rule): runs screen.sh
# once per seed (NAME-s1 .. NAME-s3), then prints the 3-seed int8 means and
# whether they beat the default's 3-seed screen mean on both figures
# (78.94% / 76.42%: fish-nas-2ch-r64-c8e2, --balance, 10 epochs; override
# with BASE_ACC / BASE_BAL). With CONFIRM=1 a pass then runs seeds 1-3 on
# the 12 never-screened habitats (NAME-confirm-sN) and prints their means
# (to compare with 84.60% / 81.35%).
#
#   SIZE=64x64 bench/generalization/screen3.sh NAME slow \
#       --arch archs/fish-nas-2ch-r64-c8e2.arch --epochs 10 --int8 --balance [lever options]
#
# The seed is added by this script: do not pass --seed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/reef-screen}
name=$1 input=$2
shift 2
means() {  # the int8 (else float) means over the given screen.sh JSON files
    python3 - "$@" <<'PY'
import json, sys
a = b = 0.0
for p in sys.argv[1:]:
    d = json.load(open(p))
    r = d["int8"] if "int8" in d else d["float"]
    a += r["mean_accuracy"]; b += r["mean_balanced_accuracy"]
n = len(sys.argv) - 1
print("%.2f %.2f" % (100 * a / n, 100 * b / n))
PY
}
for n in 1 2 3; do "$here/screen.sh" "$name-s$n" "$input" "$@" --seed "$n"; done
m=$(means "$work/screen-$name-s1.json" "$work/screen-$name-s2.json" "$work/screen-$name-s3.json")
acc=${m% *} bal=${m#* }
base_acc=${BASE_ACC:-78.94} base_bal=${BASE_BAL:-76.42}
if python3 -c "import sys; sys.exit(0 if $acc > $base_acc and $bal > $base_bal else 1)"; then
    echo "$name: screen mean $acc% / $bal% against $base_acc% / $base_bal%: passes"
else
    echo "$name: screen mean $acc% / $bal% against $base_acc% / $base_bal%: fails"
    exit 0
fi
[ "${CONFIRM:-0}" = 1 ] || exit 0
for n in 1 2 3; do
    SCREEN_GROUPS=7117,7268,7393,7426,7490,7585,9852,9862,9870,9898,9907,9908 \
        "$here/screen.sh" "$name-confirm-s$n" "$input" "$@" --seed "$n"
done
m=$(means "$work/screen-$name-confirm-s1.json" "$work/screen-$name-confirm-s2.json" "$work/screen-$name-confirm-s3.json")
echo "$name: confirmation mean (12 never-screened habitats) ${m% *}% / ${m#* }% against 84.60% / 81.35%"
