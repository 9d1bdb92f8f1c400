#!/usr/bin/env bash
# What bf16 between hosts (--inter-host-dtype bf16) does to training: the same run with fp32
# and with bf16 on the wire, each over 2 simulated hosts × 1 rank on this machine
# (FTDIST_SIMULATED_HOST_RANKS=1: the cross-host ring runs between the 2 ranks as it would
# between machines), full fine-tuning with the recipe's defaults.
#   1. the loss trajectory of the first TRAJECTORY_STEPS steps (default 50): worst and last
#      relative difference;
#   2. a short run of SHORT_STEPS steps (default 200) each, evaluated on the whole test split
#      at the end: accuracy, macro-F1 and invalid outputs side by side.
# Usage: bash bench/bf16_effect.sh [TRAJECTORY_STEPS] [SHORT_STEPS]   (writes runs/bf16-effect/)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
trajectory=${1:-50}
short=${2:-200}
out=runs/bf16-effect
mkdir -p "$out"
export FTDIST_SIMULATED_HOST_RANKS=1
for wire in fp32 bf16; do
  echo "[bf16] $wire: $trajectory steps"
  rm -rf "$out/trajectory-$wire"
  launch/local.sh 2 train --inter-host-dtype "$wire" --max-steps "$trajectory" --save-steps 0 --no-final-eval \
    --eval-steps 0 --output "$out/trajectory-$wire" >"$out/trajectory-$wire.log" 2>&1
done
for wire in fp32 bf16; do
  echo "[bf16] $wire: $short steps and the test split"
  rm -rf "$out/short-$wire"
  launch/local.sh 2 train --inter-host-dtype "$wire" --max-steps "$short" --save-steps 0 --eval-steps 0 \
    --no-final-eval --output "$out/short-$wire" >"$out/short-$wire.log" 2>&1
  # (a run's own final evaluation comes only at the end of the schedule, not at --max-steps)
  launch/local.sh 2 eval --model "$out/short-$wire/checkpoint-$(printf '%06d' "$short")" \
    --output "$out/short-$wire/eval-test" >>"$out/short-$wire.log" 2>&1
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def losses(run):
    return [json.loads(l)["loss"] for l in open(f"{out}/{run}/metrics.jsonl") if l.strip()]
a, b = losses("trajectory-fp32"), losses("trajectory-bf16")
rel = [abs(x - y) / abs(x) for x, y in zip(a, b)]
print(f"{len(a)}-step loss trajectory, bf16 vs fp32 between hosts: worst relative difference {max(rel):.2e} "
      f"(step {rel.index(max(rel)) + 1}), at the last step {rel[-1]:.2e} ({b[-1]:.4f} vs {a[-1]:.4f})")
print("| wire | steps | test accuracy | macro-F1 | invalid |")
print("|---|---|---|---|---|")
for wire in ("fp32", "bf16"):
    m = json.load(open(f"{out}/short-{wire}/eval-test/metrics.json"))
    print(f"| {wire} | {len(losses('short-' + wire))} | {100 * m['accuracy']:.2f}% | {m['macroF1']:.4f} | {m['invalid']} |")
PY
