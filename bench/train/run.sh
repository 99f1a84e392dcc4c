#!/usr/bin/env bash
# Training throughput: reef train vs PyTorch (CPU) on the same network
# (fish-s), data (DeepFish train split, 3,492 frames), batch 64, recipe and
# thread count, side by side in one run, and their test accuracy. Needs ../shared/data/deepfish and
# `scripts/deps.sh --bench` (python3-torch).
#   bench/train/run.sh [BUILD] [EPOCHS] [THREADS] [SEEDS]
# SEEDS (default 5) independent trainings each, reported as mean +- std.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
epochs=${2:-20}
threads=${3:-2}
seeds=${4:-5}
reef="$here/$build/reef"
root="$here/../shared/data/deepfish"
[[ -x "$reef" ]] || { echo "bench/train: build reef first ($reef)"; exit 1; }
[[ -d "$root" ]] || { echo "bench/train: $root is not there; skipped"; exit 0; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "bench/train: run scripts/deps.sh --bench (python3-torch)"; exit 1; }

work=$(mktemp -d /tmp/reef-bench-train-XXXXXX)
trap 'rm -rf "$work"' EXIT
for split in train test; do
  "$reef" prep --format deepfish --root "$root" --split "$split" -o "$work/$split.ds" --json >/dev/null
done
"$reef" train --help >/dev/null
# The exact spec reef trains, for PyTorch to build the same network.
cp "$here/archs/fish-s.arch" "$work/fish-s.arch"

# Seeds alternate between the trainers, so machine noise falls on both alike.
# PyTorch's OpenMP threads sleep when idle instead of spinning (on a shared
# machine spinning threads make its figure swing tenfold); reef's threads
# are pthreads that block.
export OMP_WAIT_POLICY=PASSIVE
printf 'bench/train: load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
for seed in $(seq 1 "$seeds"); do
  printf 'bench/train: seed %d of %d: reef train...\n' "$seed" "$seeds" >&2
  "$reef" train --arch fish-s --train "$work/train.ds" -o "$work/m$seed.ckpt" --epochs "$epochs" \
    --threads "$threads" --seed "$seed" --json > "$work/reef$seed.json"
  "$reef" eval --model "$work/m$seed.ckpt" --data "$work/test.ds" --json > "$work/reef-eval$seed.json"
  printf 'bench/train: seed %d of %d: PyTorch...\n' "$seed" "$seeds" >&2
  /usr/bin/python3 "$here/bench/train/torch_train.py" "$work/fish-s.arch" "$work/train.ds" "$work/test.ds" \
    "$epochs" "$threads" "$seed" > "$work/torch$seed.json"
done
load=$(cut -d' ' -f1-3 /proc/loadavg)
/usr/bin/python3 - "$work" "$seeds" "$epochs" "$threads" "$load" <<'PY'
import json, math, statistics as st, sys
work, seeds, epochs, threads, load = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rows = []
for s in range(1, seeds + 1):
    h = json.load(open(f"{work}/reef{s}.json"))["history"]
    r_ips = sum(e["images_per_s"] for e in h) / len(h)
    r_acc = json.load(open(f"{work}/reef-eval{s}.json"))["accuracy"]
    t = json.load(open(f"{work}/torch{s}.json"))
    rows.append((s, r_ips, 100 * r_acc, t["images_per_s"], 100 * t["test_accuracy"], t["torch"]))
print(f"fish-s on DeepFish train (3,492 frames), test split (1,165), batch 64, {epochs} epochs, {threads} threads; "
      f"measured on this machine, seeds alternating; load average at the end {load}")
print(f"| seed | reef img/s | reef test acc | PyTorch {rows[0][5]} img/s | PyTorch test acc |")
print("|---|---|---|---|---|")
for s, ri, ra, ti, ta, _ in rows:
    print(f"| {s} | {ri:.0f} | {ra:.2f}% | {ti:.0f} | {ta:.2f}% |")
def ms(v):
    return f"{st.mean(v):.2f} +- {st.stdev(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}"
ra, ta = [r[2] for r in rows], [r[4] for r in rows]
ratio = st.median(r[1] / r[3] for r in rows)
print(f"| mean +- std | {st.median(r[1] for r in rows):.0f} (median) | {ms(ra)}% | {st.median(r[3] for r in rows):.0f} (median) | {ms(ta)}% |")
gap = st.mean(ra) - st.mean(ta)
se = math.sqrt((st.variance(ra) + st.variance(ta)) / len(ra)) if len(ra) > 1 else float("nan")
print(f"accuracy: reef - PyTorch = {gap:+.2f} points, standard error {se:.2f} (target within 0.2): "
      f"{'met' if abs(gap) <= 0.2 or gap > 0 else 'missed'}")
print(f"speed: reef {ratio:.2f}x PyTorch's images/s, median of per-seed ratios (target >= 2x): {'met' if ratio >= 2 else 'missed'}")
PY
