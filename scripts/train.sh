#!/usr/bin/env bash
# The main job: installs and builds everything (scripts/setup.sh), then trains with the
# reference recipe under mpirun on this machine:
#   launch/local.sh RANKS train [extra args...]
# RANKS = number of cores (nproc); FTDIST_RANKS overrides. Extra arguments go to
# `ft-dist train` (without any, the recipe's defaults apply, plus validation every half
# epoch: --eval-steps 313 unless given).
#   e.g. FTDIST_RANKS=1 scripts/train.sh --epochs 1
#   continue an interrupted run: scripts/train.sh --resume latest
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/setup.sh"

ranks=${FTDIST_RANKS:-$(nproc)}
args=("$@")
case " $* " in *" --eval-steps"*) ;; *) args+=(--eval-steps 313) ;; esac
exec "$ROOT/launch/local.sh" "$ranks" train "${args[@]}"
