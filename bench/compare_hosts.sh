#!/usr/bin/env bash
# Two network-namespace hosts × 1 rank over a shaped link against one host at np=2, in one
# run: ROUNDS rounds, each running `launch/local.sh 2 bench` then
# `launch/netns-two-hosts.sh --rate RATE run bench` (interleaved), then the two hosts' step as
# a multiple of the one host's, per round and of the medians (the scaling issue's "bf16 at
# 1 Gbit/s ≤ 2× the one-host np=2 step").
#
# Usage: bash bench/compare_hosts.sh RATE [STEPS] [ROUNDS]   (defaults 5 and 3)
# Extra ft-dist bench flags for the two hosts in FTDIST_BENCH_FLAGS (e.g.
# "--inter-host-dtype bf16"). Writes runs/bench-hosts-RATE[-flags]/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
rate=${1:?usage: bash bench/compare_hosts.sh RATE [STEPS] [ROUNDS]}
steps=${2:-5}
rounds=${3:-3}
label=$(printf '%s' "${FTDIST_BENCH_FLAGS:-}" | tr -cs 'a-z0-9' '-' | sed 's/^-*//; s/-*$//')
out=runs/bench-hosts-$rate${label:+-$label}
mkdir -p "$out"
[ -x .build/release/ft-dist ] || { echo "[hosts] .build/release/ft-dist missing: swift build -c release" >&2; exit 1; }
read -r -a extra <<<"${FTDIST_BENCH_FLAGS:-}"
for r in $(seq 1 "$rounds"); do
  echo "[hosts] round $r/$rounds: one host, np=2"
  launch/local.sh 2 bench --steps "$steps" --json "$out/onehost-$r.json" >"$out/onehost-$r.log" 2>&1
  echo "[hosts] round $r/$rounds: two hosts at $rate ${FTDIST_BENCH_FLAGS:-}"
  launch/netns-two-hosts.sh --rate "$rate" run bench --steps "$steps" "${extra[@]}" --json "$out/twohosts-$r.json" \
    >"$out/twohosts-$r.log" 2>&1
done
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
one = [json.load(open(f"{out}/onehost-{r}.json"))["medianStepSeconds"] for r in range(1, rounds + 1)]
two = [json.load(open(f"{out}/twohosts-{r}.json"))["medianStepSeconds"] for r in range(1, rounds + 1)]
print("| | one host, np=2 | two hosts × 1 rank | two hosts / one host |")
print("|---|---|---|---|")
for r, (a, b) in enumerate(zip(one, two), 1):
    print(f"| round {r} | {a:.3f} | {b:.3f} | {b / a:.2f}× |")
m1, m2 = statistics.median(one), statistics.median(two)
print(f"| medians | {m1:.3f} | {m2:.3f} | {m2 / m1:.2f}× |")
PY
