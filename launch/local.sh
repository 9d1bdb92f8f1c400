#!/usr/bin/env bash
# Starts N ranks of ft-dist on this machine through mpirun.
#
# Usage: launch/local.sh N [ft-dist args...]     e.g. launch/local.sh 2 train --epochs 1
#
# - OpenBLAS threads per rank = max(1, cores / N), exported to every rank
#   (OPENBLAS_NUM_THREADS and OMP_NUM_THREADS), so ranks x threads <= cores.
# - N <= cores: each rank is bound to its own cores (--bind-to core, with
#   --map-by slot:PE=T when a rank has T > 1 threads). N > cores: --oversubscribe
#   and --bind-to none.
# - --allow-run-as-root when run as root. Every FTDIST_* variable is passed on (-x).
# - N=1 goes through mpirun too. The binary is .build/release/ft-dist (FTDIST_BIN overrides).
# - The command runs from the repository root, so relative paths resolve there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf '[launch] error: %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: launch/local.sh N [ft-dist args...]"
n=$1; shift
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$n'"

bin=${FTDIST_BIN:-$ROOT/.build/release/ft-dist}
[ -x "$bin" ] || die "$bin not found or not executable (build with: swift build -c release)"
command -v mpirun >/dev/null 2>&1 || die "mpirun not found (run scripts/setup.sh)"

cores=$(nproc)
threads=$((cores / n))
[ "$threads" -ge 1 ] || threads=1

cmd=(mpirun -np "$n")
[ "$(id -u)" -ne 0 ] || cmd+=(--allow-run-as-root)
if [ "$n" -gt "$cores" ]; then
  cmd+=(--oversubscribe --bind-to none)
elif [ "$threads" -gt 1 ]; then
  cmd+=(--map-by "slot:PE=$threads" --bind-to core)
else
  cmd+=(--bind-to core)
fi
cmd+=(-x "OPENBLAS_NUM_THREADS=$threads" -x "OMP_NUM_THREADS=$threads")
while IFS= read -r var; do
  cmd+=(-x "$var")
done < <(compgen -e | grep '^FTDIST_' || true)
cmd+=("$bin" "$@")

cd "$ROOT"
printf '[launch] %d rank(s) on %d core(s), %d OpenBLAS thread(s) per rank\n' "$n" "$cores" "$threads"
printf '[launch]'; printf ' %q' "${cmd[@]}"; printf '\n'
# train: Ctrl-C / SIGTERM stop after the current step with a final checkpoint (lib/mpirun.sh)
source "$ROOT/launch/lib/mpirun.sh"
run_mpirun "${1:-}" "${cmd[@]}"
