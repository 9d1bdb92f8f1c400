#!/usr/bin/env bash
# Two builds of ft-dist, timed in one interleaved run: is a change slower? Each round runs
# `ft-dist bench` with the OLD and the NEW binary at np=1 (2 BLAS threads) and at np=2
# (1 thread each, launch/local.sh), alternating which binary goes first; then it prints the
# median seconds per step of each and the ratios new/old (per round and overall).
#
# Usage: bash bench/compare_builds.sh OLD_BINARY NEW_BINARY [STEPS] [ROUNDS]   (defaults 12 and 3)
# Build both the same way (swift build -c release), e.g. the old one from a git worktree.
# Writes runs/compare-builds/. Run it on an otherwise idle machine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ $# -ge 2 ] || { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }
old=$1; new=$2; steps=${3:-12}; rounds=${4:-3}
for b in "$old" "$new"; do [ -x "$b" ] || { echo "[compare-builds] $b is not an executable" >&2; exit 1; }; done
out=runs/compare-builds
mkdir -p "$out"

run() {  # run TAG BINARY NP ROUND
  local tag=$1 bin=$2 np=$3 r=$4
  echo "[compare-builds] round $r/$rounds: $tag np=$np"
  if [ "$np" = 1 ]; then
    "$bin" bench --steps "$steps" --json "$out/$tag-np1-$r.json" >"$out/$tag-np1-$r.log" 2>&1
  else
    FTDIST_BIN="$bin" launch/local.sh 2 bench --steps "$steps" --json "$out/$tag-np2-$r.json" >"$out/$tag-np2-$r.log" 2>&1
  fi
}

for r in $(seq 1 "$rounds"); do
  for np in 1 2; do
    if [ $(((r + np) % 2)) = 0 ]; then run old "$old" "$np" "$r"; run new "$new" "$np" "$r"
    else run new "$new" "$np" "$r"; run old "$old" "$np" "$r"; fi
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def seconds(tag, np, r): return json.load(open(f"{out}/{tag}-np{np}-{r}.json"))["medianStepSeconds"]
print("| | old s/step | new s/step | new/old |")
print("|---|---|---|---|")
for np in (1, 2):
    ratios = []
    for r in range(1, rounds + 1):
        o, n = seconds("old", np, r), seconds("new", np, r)
        ratios.append(n / o)
        print(f"| np={np} round {r} | {o:.3f} | {n:.3f} | {n / o:.3f} |")
    o = statistics.median(seconds("old", np, r) for r in range(1, rounds + 1))
    n = statistics.median(seconds("new", np, r) for r in range(1, rounds + 1))
    print(f"| **np={np} median** | {o:.3f} | {n:.3f} | **{statistics.median(ratios):.3f}** (median of the rounds' ratios) |")
PY
