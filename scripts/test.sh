#!/usr/bin/env bash
# Runs the ft-dist test suite, real-model tests included, on a fresh machine:
# scripts/setup.sh installs the system packages, the model and the data, then
#   swift test -c release -Xswiftc -enable-testing [extra args, e.g. --filter ModelTests]
# builds everything (the ft-dist executable included, at .build/release/ft-dist) and runs
# the tests. setup's own `swift build -c release` is skipped: its flags differ from the
# test build's, so it would compile every module a second time for nothing.
#
# The tests find the model and data relative to FTDIST_ROOT (the repository root):
# models/gemma-3-270m-q4_k_m.gguf and data/banking77/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

"$ROOT/scripts/setup.sh" --no-build

export FTDIST_ROOT="$ROOT"
export FTDIST_BIN="${FTDIST_BIN:-$ROOT/.build/release/ft-dist}"
export OMPI_MCA_rmaps_base_oversubscribe=1
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi

printf '[test] swift test -c release -Xswiftc -enable-testing%s\n' "${*:+ $*}"
swift test -c release -Xswiftc -enable-testing "$@"
