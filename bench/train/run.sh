#!/usr/bin/env bash
# Training throughput: reef train vs PyTorch (CPU) on the same network
# (fish-s), data (DeepFish train split, 3,492 frames), batch 64, recipe and
# thread count, side by side in one run. Needs ../shared/data/deepfish and
# `scripts/deps.sh --bench` (python3-torch).
#   bench/train/run.sh [BUILD] [EPOCHS] [THREADS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
epochs=${2:-20}
threads=${3:-2}
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

"$reef" train --arch fish-s --train "$work/train.ds" -o "$work/m.ckpt" --epochs "$epochs" \
  --threads "$threads" --json > "$work/reef.json"
reef_ips=$(/usr/bin/python3 -c "import json,sys; h=json.load(open('$work/reef.json'))['history']; print(sum(e['images_per_s'] for e in h)/len(h))")
reef_acc=$("$reef" eval --model "$work/m.ckpt" --data "$work/test.ds" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['accuracy'])")
torch_json=$(/usr/bin/python3 "$here/bench/train/torch_train.py" "$work/fish-s.arch" "$work/train.ds" "$work/test.ds" "$epochs" "$threads")
/usr/bin/python3 - "$reef_ips" "$reef_acc" "$torch_json" "$epochs" "$threads" <<'PY'
import json, sys
reef_ips, reef_acc, t, epochs, threads = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
print(f"fish-s on DeepFish train (3,492 frames), batch 64, {epochs} epochs, {threads} threads")
print(f"{'trainer':<22}{'img/s':>10}{'test acc':>10}")
print(f"{'reef train':<22}{reef_ips:>10.0f}{100*reef_acc:>9.2f}%")
print(f"{'PyTorch ' + t['torch']:<22}{t['images_per_s']:>10.0f}{100*t['test_accuracy']:>9.2f}%")
ratio = reef_ips / t['images_per_s']
met = ratio >= 2 and reef_acc >= t['test_accuracy'] - 0.005
print(f"ratio {ratio:.2f}x (target 2x at equal or better accuracy): {'met' if met else 'missed'}")
PY
