#!/usr/bin/env bash
# The three techniques timed in one run, interleaved so that the machine's noise hits every
# column alike: ft-dist full, lora and qlora at np=1 × 2 threads, lora at np=2 × 1 thread, and
# the PyTorch + peft LoRA peer (same batches, fp32, 2 threads, rank/alpha/targets as ft-dist,
# dropout 0) — ROUNDS times, then one table of medians and ratios.
#
# Usage: bash bench/compare_methods.sh [STEPS] [ROUNDS]   (defaults 12 and 2; writes runs/bench-methods/)
# Needs: a release build (swift build -c release) and the peer venv (bash bench/setup_peer.sh).
# Without the venv (or with PEER=0) the peer column is left out.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
steps=${1:-12}
rounds=${2:-2}
out=runs/bench-methods
mkdir -p "$out"
bin=${FTDIST_BIN:-.build/release/ft-dist}
[ -x "$bin" ] || { echo "[methods] $bin missing: swift build -c release" >&2; exit 1; }
peer=${PEER:-1}
[ -x .venv-peer/bin/python ] || peer=0

for r in $(seq 1 "$rounds"); do
  for method in full lora qlora; do
    echo "[methods] round $r/$rounds: ft-dist $method np=1"
    "$bin" bench --method "$method" --steps "$steps" --json "$out/$method-np1-$r.json" >"$out/$method-np1-$r.log" 2>&1
  done
  echo "[methods] round $r/$rounds: ft-dist lora np=2"
  FTDIST_BIN="$bin" launch/local.sh 2 bench --method lora --steps "$steps" --json "$out/lora-np2-$r.json" >"$out/lora-np2-$r.log" 2>&1
  if [ "$peer" = 1 ]; then
    echo "[methods] round $r/$rounds: PyTorch + peft LoRA peer"
    .venv-peer/bin/python bench/peer_pytorch.py --method lora --steps "$steps" --threads 2 --no-tokenizer-check \
      --json "$out/peer-lora-$r.json" >"$out/peer-lora-$r.log" 2>&1
  fi
done

python3 - "$out" "$rounds" "$peer" <<'PY'
import json, statistics, sys
out, rounds, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
med = statistics.median
def load(name): return [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
runs = {k: load(k) for k in ("full-np1", "lora-np1", "qlora-np1", "lora-np2")}
s = {k: med(b["medianStepSeconds"] for b in v) for k, v in runs.items()}
peer_runs = load("peer-lora") if peer else []
sp = med(p["median_step_seconds"] for p in peer_runs) if peer else None
cols = ["full-np1", "lora-np1", "qlora-np1", "lora-np2"]
head = ["", "full, np=1", "LoRA, np=1", "QLoRA, np=1", "LoRA, np=2"] + (["peft LoRA peer"] if peer else [])
gb = lambda x: f"{x / 1e9:.2f}"
rows = [
    ["seconds per global batch of 16"] + [f"{s[k]:.2f}" for k in cols] + ([f"{sp:.2f}"] if peer else []),
    ["step vs full (np=1)"] + [f"{s[k] / s['full-np1']:.2f}×" for k in cols] + ([f"{sp / s['full-np1']:.2f}×"] if peer else []),
    ["throughput vs the peft peer"] + ([f"{sp / s[k]:.2f}×" for k in cols] + ["1×"] if peer else ["—"] * 4),
    ["forward / head / backward (s)"] + [" / ".join(f"{med(b['medianSplit'][p] for b in runs[k]):.2f}" for p in ("forward", "head", "backward")) for k in cols] + (["—"] if peer else []),
    ["of it the adapters' own work (s)"] + [f"{med(b['medianSplit'].get('adapters') or 0 for b in runs[k]):.2f}" if runs[k][0]['medianSplit'].get('adapters') is not None else "—" for k in cols] + (["—"] if peer else []),
    ["exchange + norm + AdamW (s)"] + [f"{med(b['medianSplit']['allReduce'] + b['medianSplit']['gradNorm'] + b['medianSplit']['adamW'] for b in runs[k]):.3f}" for k in cols] + (["—"] if peer else []),
    ["trained parameters"] + [f"{runs[k][-1].get('trainableParameters', 0):,}" for k in cols] + (["3,796,992"] if peer else []),
    ["peak RSS per rank (GB)"] + [", ".join(gb(x) for x in runs[k][-1]["peakRSSBytesPerRank"]) for k in cols] + (["—"] if peer else []),
    ["of it file-backed (GB)"] + [", ".join(gb(x) for x in runs[k][-1].get("residentFileBytesPerRank") or [0]) for k in cols] + (["—"] if peer else []),
]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows: print("| " + " | ".join(r) + " |")
print(f"\n(medians of steps 2–{runs['full-np1'][0]['steps']} per run, {rounds} interleaved round(s))")
per = lambda a, b: ", ".join(f"{x['medianStepSeconds'] / y['medianStepSeconds']:.2f}" for x, y in zip(runs[a], runs[b]))
print(f"per round: LoRA/full {per('lora-np1', 'full-np1')}; QLoRA/full {per('qlora-np1', 'full-np1')}; "
      f"LoRA np=1/np=2 step (throughput np=2 vs np=1) {per('lora-np1', 'lora-np2')}")
PY
