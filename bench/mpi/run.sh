#!/usr/bin/env bash
# Data-parallel training over MPI ranks (issue 18, docs/mpi.md):
#  1. images/s of `mpirun -np N reef train` for N = 1, 2, 4 on this machine,
#     and whether the checkpoints are the same bits (they must be). On a
#     2-core machine 4 ranks are oversubscribed: a functional check, not a
#     scaling figure.
#  2. the measured inputs of the cluster estimate: per-image compute of one
#     rank (one thread), the fixed per-step cost every rank repeats
#     (optimizer step, combining the chunks), and the bytes every rank
#     receives per step -- then the modeled efficiency for 40k DeepFish
#     frames and a 1M-image set at assumed network speeds.
# Needs ../shared/data/deepfish (train split, 3,492 frames) and mpirun.
#   bench/mpi/run.sh [BUILD] [EPOCHS] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
epochs=${2:-2}
repeats=${3:-3}
reef="$here/$build/reef"
root="$here/../shared/data/deepfish"
[[ -x "$reef" ]] || { echo "bench/mpi: build reef first ($reef)"; exit 1; }
[[ -d "$root" ]] || { echo "bench/mpi: $root is not there; skipped"; exit 0; }
command -v mpirun >/dev/null || { echo "bench/mpi: mpirun is not installed (scripts/deps.sh)"; exit 1; }
mpirun=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && mpirun+=(--allow-run-as-root)

work=$(mktemp -d /tmp/reef-bench-mpi-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$reef" prep --format deepfish --root "$root" --split train -o "$work/train.ds" --json >/dev/null

# one run: prints the JSON summary of reef train
train() {  # ranks batch chunk out
  local ranks=$1 batch=$2 chunk=$3 out=$4
  "${mpirun[@]}" -np "$ranks" "$reef" train --arch fish-s --train "$work/train.ds" -o "$out" \
    --epochs "$epochs" --batch "$batch" --chunk "$chunk" --threads 1 --json 2>/dev/null
}

: > "$work/runs.txt"
for rep in $(seq "$repeats"); do
  for n in 1 2 4; do
    train "$n" 64 16 "$work/m$n.ckpt" > "$work/r.json"
    echo "$n $(md5sum < "$work/m$n.ckpt" | cut -c1-32) $(cat "$work/r.json")" >> "$work/runs.txt"
  done
  # the fixed per-step cost: the same images in 4x fewer steps
  train 1 256 16 "$work/b256.ckpt" > "$work/r.json"
  echo "b256 - $(cat "$work/r.json")" >> "$work/runs.txt"
done

/usr/bin/python3 - "$work/runs.txt" "$epochs" "$repeats" <<'PY'
import json, statistics, sys
rows = [l.split(" ", 2) for l in open(sys.argv[1])]
epochs, repeats = int(sys.argv[2]), int(sys.argv[3])
ips = {}; md5 = {}; info = {}
for key, digest, js in rows:
    j = json.loads(js)
    ips.setdefault(key, []).append(statistics.mean(e["images_per_s"] for e in j["history"]))
    if digest != "-": md5.setdefault(key, set()).add(digest)
    info[key] = j
print(f"fish-s on DeepFish train (3,492 frames, 32x32), batch 64, --chunk 16, --threads 1, "
      f"{epochs} epochs; median of {repeats} runs; measured on this machine (2 cores, shared)")
print(f"{'ranks':>5} {'img/s':>8} {'vs 1 rank':>9}  checkpoint md5")
base = statistics.median(ips["1"])
for n in ("1", "2", "4"):
    m = statistics.median(ips[n])
    print(f"{n:>5} {m:>8.0f} {m / base:>8.2f}x  {', '.join(sorted(md5[n]))}")
same = len(set().union(*md5.values())) == 1
print(f"same checkpoint bits for 1, 2 and 4 ranks: {'yes' if same else 'NO'}")
print("(2 cores: 2 ranks may gain, 4 are oversubscribed; a functional check, not a scaling figure)\n")

# per-image and per-step cost of one rank (one thread), from batch 64 vs 256
t64 = 1 / statistics.median(ips["1"]); t256 = 1 / statistics.median(ips["b256"])
# t_batch = t_img + t_step / batch  ->  two equations
t_step = (t64 - t256) / (1 / 64 - 1 / 256)
t_img = t64 - t_step / 64
slot = info["1"]["chunk_bytes"]
print(f"measured: compute per image per rank {1e3 * t_img:.3f} ms, fixed cost per step {1e3 * t_step:.3f} ms, "
      f"chunk gradient + statistics {slot / 1024:.1f} KiB ({info['1']['params']} parameters)")
if t_step < 0:
    print("(fixed per-step cost came out negative: machine noise; taken as 0)"); t_step = 0.0

def step_time(n, k, chunk, bw, lat):
    # each rank: its k/n chunks, then a ring allgather of k slots: it receives
    # (n-1)/n of k*slot bytes in n-1 rounds, then every rank adds the k chunks
    # (part of t_step) and steps the optimizer
    compute = (k / n) * chunk * t_img
    comm = 0 if n == 1 else (n - 1) / n * k * slot / bw + (n - 1) * lat
    return compute + comm + t_step

print("\nmodeled: efficiency = T(1) / (N * T(N)) per step; network: 10 Gb/s Ethernet (1.25 GB/s, 30 us per round) "
      "and 100 Gb/s InfiniBand (12.5 GB/s, 2 us per round)")
cases = [("DeepFish 40k frames", 40000, 256, 16), ("1M images", 1000000, 1024, 32)]
print(f"{'set':<20} {'batch':>5} {'chunk':>5} {'ranks':>5} {'eff 10GbE':>9} {'eff 100G IB':>11} {'epoch s (IB)':>12}")
for name, count, batch, chunk in cases:
    k = batch // chunk
    for n in (1, 4, 8, 16, 32):
        if n > k: continue
        effs = []
        for bw, lat in ((1.25e9, 30e-6), (12.5e9, 2e-6)):
            effs.append(step_time(1, k, chunk, bw, lat) / (n * step_time(n, k, chunk, bw, lat)))
        epoch = count / batch * step_time(n, k, chunk, 12.5e9, 2e-6)
        print(f"{name:<20} {batch:>5} {chunk:>5} {n:>5} {effs[0]:>9.2f} {effs[1]:>11.2f} {epoch:>12.1f}")
PY
