#!/usr/bin/env bash
# The gradient exchange overlapped with the backward pass (the default) against --no-overlap
# (reduce after the whole backward), measured with ft-dist bench in one run: ROUNDS rounds,
# each running both one after the other (interleaved), then medians per configuration.
#
# Usage: bash bench/compare_overlap.sh local [STEPS] [ROUNDS]
#          one host, np=2 (launch/local.sh 2)
#        bash bench/compare_overlap.sh RATE [STEPS] [ROUNDS]
#          two network-namespace hosts × 1 rank (launch/netns-two-hosts.sh), the link shaped to
#          RATE (tc tbf, e.g. 1gbit, 5gbit) or "none" (unshaped veth)
# Defaults: 8 steps, 3 rounds. Extra ft-dist bench flags go in FTDIST_BENCH_FLAGS
# (e.g. "--method lora"). Writes runs/bench-overlap-LABEL/ and prints a markdown table:
# seconds per step, the exchange's time after the backward, the exposed part (beyond compute
# and the wait for the slowest rank) and its share of the step, and GB sent per step on rank
# 0's network interfaces.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
where=${1:?usage: bash bench/compare_overlap.sh local|RATE [STEPS] [ROUNDS]}
steps=${2:-8}
rounds=${3:-3}
label=$(printf '%s' "${FTDIST_BENCH_FLAGS:-}" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')
out=runs/bench-overlap-$where${label:+-$label}
mkdir -p "$out"
bin=.build/release/ft-dist
[ -x "$bin" ] || { echo "[overlap] $bin missing: swift build -c release" >&2; exit 1; }
read -r -a extra <<<"${FTDIST_BENCH_FLAGS:-}"
run() {  # run NAME [flags...]
  local name=$1; shift
  if [ "$where" = local ]; then
    launch/local.sh 2 bench --steps "$steps" "${extra[@]}" "$@" --json "$out/$name.json" >"$out/$name.log" 2>&1
  else
    launch/netns-two-hosts.sh --rate "$where" run bench --steps "$steps" "${extra[@]}" "$@" --json "$out/$name.json" \
      >"$out/$name.log" 2>&1
  fi
}
for r in $(seq 1 "$rounds"); do
  echo "[overlap] $where round $r/$rounds: overlapped"
  run "overlap-$r"
  echo "[overlap] $where round $r/$rounds: --no-overlap"
  run "after-$r" --no-overlap
done
python3 - "$out" "$rounds" "$where" <<'PY'
import json, statistics, sys
out, rounds, where = sys.argv[1], int(sys.argv[2]), sys.argv[3]
med = statistics.median
print(f"| {where} | s/step | exchange after the backward (s) | exposed (s) | exposed share of the step | wait (s) | GB sent per step | per round s/step |")
print("|---|---|---|---|---|---|---|---|")
for name, label in (("overlap", "overlapped"), ("after", "--no-overlap")):
    bs = [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
    step = med(b["medianStepSeconds"] for b in bs)
    exchange = med(b["medianSplit"]["allReduce"] for b in bs)
    exposed = med(b["medianSplit"].get("exposedExchange") or 0 for b in bs)
    wait = med(b["medianSplit"]["wait"] for b in bs)
    sent = med((b.get("networkBytesPerStep") or 0) / 1e9 for b in bs)
    per_round = ", ".join(f"{b['medianStepSeconds']:.2f}" for b in bs)
    print(f"| {label} | {step:.3f} | {exchange:.3f} | {exposed:.3f} | {100 * exposed / step:.1f}% | {wait:.3f} | {sent:.3f} | {per_round} |")
PY
