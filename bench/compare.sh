#!/usr/bin/env bash
# One benchmark run, so that the ratios compare like with like on a noisy machine:
#   ft-dist np=1 × 2 threads, np=2 × 1 thread (host shared memory), np=2 with plain
#   MPI_Allreduce, and the PyTorch peer on the same batches — one after the other, the
#   whole sequence repeated ROUNDS times (interleaved), then a table of medians and ratios.
#
# Usage: bash bench/compare.sh [STEPS] [ROUNDS]      (defaults 12 and 1; writes runs/bench/)
#        bash bench/compare.sh methods [STEPS] [ROUNDS]   full, lora, qlora and the peft peer
#                                                         (bench/compare_methods.sh)
#        bash bench/compare.sh shards [STEPS] [ROUNDS]    np=1, np=2 balanced shards, np=2 contiguous
#                                                         (bench/compare_shards.sh)
#        bash bench/compare.sh overlap local|RATE [STEPS] [ROUNDS]   exchange overlapped vs
#                                                         --no-overlap (bench/compare_overlap.sh)
#        bash bench/compare.sh hosts RATE [STEPS] [ROUNDS]   two netns hosts at RATE vs one
#                                                         host at np=2 (bench/compare_hosts.sh)
# Needs: a release build (swift build -c release) and the peer venv (bash bench/setup_peer.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ "${1:-}" = methods ]; then shift; exec bash bench/compare_methods.sh "$@"; fi
if [ "${1:-}" = shards ]; then shift; exec bash bench/compare_shards.sh "$@"; fi
if [ "${1:-}" = overlap ]; then shift; exec bash bench/compare_overlap.sh "$@"; fi
if [ "${1:-}" = hosts ]; then shift; exec bash bench/compare_hosts.sh "$@"; fi
steps=${1:-12}
rounds=${2:-1}
out=runs/bench
mkdir -p "$out"
bin=.build/release/ft-dist
[ -x "$bin" ] || { echo "[compare] $bin missing: swift build -c release" >&2; exit 1; }
[ -x .venv-peer/bin/python ] || { echo "[compare] .venv-peer missing: bash bench/setup_peer.sh" >&2; exit 1; }

for r in $(seq 1 "$rounds"); do
  echo "[compare] round $r/$rounds: ft-dist np=1"
  "$bin" bench --steps "$steps" --json "$out/np1-$r.json" >"$out/np1-$r.log" 2>&1
  echo "[compare] round $r/$rounds: ft-dist np=2 (host shared memory)"
  launch/local.sh 2 bench --steps "$steps" --json "$out/np2-$r.json" >"$out/np2-$r.log" 2>&1
  echo "[compare] round $r/$rounds: ft-dist np=2 (plain MPI_Allreduce)"
  launch/local.sh 2 bench --steps "$steps" --no-host-shared-memory --json "$out/np2-plain-$r.json" >"$out/np2-plain-$r.log" 2>&1
  echo "[compare] round $r/$rounds: PyTorch peer"
  .venv-peer/bin/python bench/peer_pytorch.py --steps "$steps" --threads 2 --json "$out/peer-$r.json" >"$out/peer-$r.log" 2>&1
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name): return [json.load(open(f"{out}/{name}-{r}.json")) for r in range(1, rounds + 1)]
np1, np2, plain, peer = load("np1"), load("np2"), load("np2-plain"), load("peer")
med = lambda xs: statistics.median(xs)
s1 = med([b["medianStepSeconds"] for b in np1]); s2 = med([b["medianStepSeconds"] for b in np2])
sp = med([b["medianStepSeconds"] for b in plain]); speer = med([p["median_step_seconds"] for p in peer])
split = lambda bs, k: med([b["medianSplit"][k] for b in bs])
rows = [
    ("seconds per global batch of 16", f"{s1:.2f}", f"{s2:.2f}", f"{sp:.2f}", f"{speer:.2f}"),
    ("examples/s", f"{16/s1:.2f}", f"{16/s2:.2f}", f"{16/sp:.2f}", f"{16/speer:.2f}"),
    ("speed vs the PyTorch peer", f"{speer/s1:.2f}×", f"{speer/s2:.2f}×", f"{speer/sp:.2f}×", "1×"),
    ("throughput vs ft-dist np=1", "1×", f"{s1/s2:.2f}×", f"{s1/sp:.2f}×", f"{s1/speer:.2f}×"),
    ("forward / head / backward (s)", *[f"{split(b,'forward'):.2f} / {split(b,'head'):.2f} / {split(b,'backward'):.2f}" for b in (np1, np2, plain)], "—"),
    ("gradient exchange (s)", "—", f"{split(np2,'allReduce'):.3f}", f"{split(plain,'allReduce'):.3f}", "—"),
    ("longest wait of a rank for the slower one (s)", "—", f"{split(np2,'wait'):.3f}", f"{split(plain,'wait'):.3f}", "—"),
    ("gradient norm + AdamW (s)", *[f"{split(b,'gradNorm'):.3f} + {split(b,'adamW'):.3f}" for b in (np1, np2, plain)], "—"),
    ("whole-gradient all-reduce (s)", "—", f"{med([b['exchangeAllReduceSeconds'] for b in np2]):.3f} shared memory",
     f"{med([b['plainMPIAllReduceSeconds'] for b in np2]):.3f} MPI_Allreduce", "—"),
    ("peak RSS per rank (GB)", *[", ".join(f"{x/1e9:.2f}" for x in b[-1]["peakRSSBytesPerRank"]) for b in (np1, np2, plain)], "—"),
]
head = ("", "ft-dist np=1 × 2 threads", "ft-dist np=2 × 1 thread", "np=2, plain MPI_Allreduce", "PyTorch peer, 2 threads")
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for r in rows: print("| " + " | ".join(r) + " |")
print(f"\n(medians of steps 2–{np1[0]['steps']} per run; {rounds} round(s); the whole-gradient all-reduce is timed inside the np=2 run)")
if rounds > 1:
    per = lambda a, b: ", ".join(f"{x['medianStepSeconds'] / y['medianStepSeconds']:.2f}" for x, y in zip(a, b))
    print(f"per round: np=2 throughput vs np=1 {per(np1, np2)}; np=1 speed vs the peer "
          + ", ".join(f"{p['median_step_seconds'] / b['medianStepSeconds']:.2f}" for p, b in zip(peer, np1)))
PY
