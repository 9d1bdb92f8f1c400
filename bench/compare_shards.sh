#!/usr/bin/env bash
# Balanced shards, measured: ft-dist bench at np=1 × 2 threads, np=2 × 1 thread with each
# global batch cut by estimated work (the default) and np=2 cut into contiguous halves of
# equal count (--no-balance-shards, the old cut) — one after the other, ROUNDS times
# (interleaved), then medians: seconds per step, np=2 vs np=1 throughput, and the longest
# wait of a rank for the slower one.
#
# Usage: bash bench/compare_shards.sh [STEPS] [ROUNDS]   (defaults 12 and 3; writes runs/bench-shards/)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
steps=${1:-12}
rounds=${2:-3}
out=runs/bench-shards
mkdir -p "$out"
bin=.build/release/ft-dist
[ -x "$bin" ] || { echo "[shards] $bin missing: swift build -c release" >&2; exit 1; }
for r in $(seq 1 "$rounds"); do
  echo "[shards] round $r/$rounds: np=1"
  "$bin" bench --steps "$steps" --json "$out/np1-$r.json" >"$out/np1-$r.log" 2>&1
  echo "[shards] round $r/$rounds: np=2, balanced"
  launch/local.sh 2 bench --steps "$steps" --json "$out/np2-$r.json" >"$out/np2-$r.log" 2>&1
  echo "[shards] round $r/$rounds: np=2, contiguous halves (--no-balance-shards)"
  launch/local.sh 2 bench --steps "$steps" --no-balance-shards --json "$out/np2-count-$r.json" >"$out/np2-count-$r.log" 2>&1
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
load = lambda name: [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
runs = {"np=1": load("np1"), "np=2 balanced": load("np2"), "np=2 contiguous": load("np2-count")}
med = statistics.median
s1 = med(b["medianStepSeconds"] for b in runs["np=1"])
print(f"| | s/step | throughput vs np=1 | wait for the slower rank (s) | per round: throughput vs np=1 |")
print("|---|---|---|---|---|")
for name, bs in runs.items():
    s = med(b["medianStepSeconds"] for b in bs)
    wait = med(b["medianSplit"]["wait"] for b in bs)
    rounds_ratio = ", ".join(f"{a['medianStepSeconds'] and n['medianStepSeconds'] / a['medianStepSeconds']:.3f}" for a, n in zip(bs, runs["np=1"]))
    print(f"| {name} | {s:.3f} | {s1 / s:.3f} | {wait:.3f} | {rounds_ratio} |")
PY
