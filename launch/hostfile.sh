#!/usr/bin/env bash
# Starts N ranks of ft-dist across the machines of an Open MPI hostfile.
#
# Usage: launch/hostfile.sh HOSTFILE N [ft-dist args...]
#   e.g. launch/hostfile.sh hostfiles/two-hosts.txt 2 train
#
# Requirements (see README.md, "Running across machines"):
# - the ft-dist binary sits at the SAME absolute path on every host (default
#   <repo>/.build/release/ft-dist; FTDIST_BIN overrides), built for that host;
#   the model and data paths passed to ft-dist must also resolve on every host;
# - passwordless ssh from this host to every other host, and the same Open MPI
#   version everywhere (FTDIST_MPI_PREFIX=/usr passes --prefix when mpirun's
#   daemons are not found on the remote PATH);
# - every host line has slots=K (the ranks that host runs); ranks fill host after
#   host in hostfile order (--map-by slot).
#
# Environment:
#   FTDIST_CORES_PER_HOST  cores of each host (default: nproc of this host);
#                          OpenBLAS threads per rank = max(1, cores / largest slots=)
#   FTDIST_NET_IF          network interface(s) or CIDR for MPI traffic, e.g. eth1 or
#                          10.0.0.0/24 (btl_tcp_if_include and oob_tcp_if_include)
#   FTDIST_MPI_PREFIX      Open MPI install prefix on the remote hosts (--prefix)
#   FTDIST_RSH_AGENT       command that starts mpirun's daemons on the other hosts
#                          instead of ssh (--mca plm_rsh_agent), e.g. launch/netns-agent.sh
#   FTDIST_BTL             MPI transports (default self,vader,tcp; self,tcp: TCP only)
#   FTDIST_BIND_TO         rank binding: core (default) or none (hosts that share cores,
#                          e.g. the namespaces of launch/netns-two-hosts.sh)
#   FTDIST_ALLREDUCE_ALGORITHM  Open MPI's all-reduce algorithm between hosts
#                          (coll_tuned_allreduce_algorithm): 3, recursive doubling, by
#                          default when the hostfile lists several hosts; 0: Open MPI's
#                          own choice. Measured over two namespace hosts at 1 Gbit/s
#                          (launch/netns-two-hosts.sh --rate 1gbit run bench --steps 3):
#                          the 1.07 GB gradient in 10.1–10.3 s with 3, against a ring bound
#                          of 8.6 s; 17.5 s with Open MPI's choice, with 4 (ring) and with 6
#                          (Rabenseifner). With 2 hosts each sends its buffer once, both ways
#                          at once; with H hosts recursive doubling sends it log2(H) times
#                          (1.33× the ring bound at 4 hosts): re-measure there.
#   FTDIST_*               every FTDIST_* variable is passed to all ranks (-x)
# Transports: shared memory between ranks of one host, TCP between hosts
# (--mca pml ob1 --mca btl "self,vader,tcp").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { printf '[launch] error: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: launch/hostfile.sh HOSTFILE N [ft-dist args...]"
hostfile=$1 n=$2; shift 2
[ -f "$hostfile" ] || die "hostfile $hostfile not found"
hostfile=$(cd "$(dirname "$hostfile")" && pwd)/$(basename "$hostfile")
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, got '$n'"

bin=${FTDIST_BIN:-$ROOT/.build/release/ft-dist}
case "$bin" in /*) ;; *) bin=$ROOT/$bin ;; esac
[ -x "$bin" ] || die "$bin not found or not executable here (it must exist at this same path on every host)"
command -v mpirun >/dev/null 2>&1 || die "mpirun not found (run scripts/setup.sh)"

# Hosts and their slots= (comments and blank lines skipped).
hosts=0 total_slots=0 max_slots=0
while read -r host rest; do
  case "$host" in ''|'#'*) continue ;; esac
  [[ "$rest" =~ (^|[[:space:]])slots=([0-9]+) ]] || die "$hostfile: host '$host' has no slots=K"
  slots=${BASH_REMATCH[2]}
  hosts=$((hosts + 1)) total_slots=$((total_slots + slots))
  [ "$slots" -le "$max_slots" ] || max_slots=$slots
done < "$hostfile"
[ "$hosts" -gt 0 ] || die "$hostfile lists no hosts"
[ "$n" -le "$total_slots" ] || die "N=$n ranks but $hostfile has only $total_slots slots"

cores=${FTDIST_CORES_PER_HOST:-$(nproc)}
[[ "$cores" =~ ^[1-9][0-9]*$ ]] || die "FTDIST_CORES_PER_HOST must be a positive integer"
threads=$((cores / max_slots))
[ "$threads" -ge 1 ] || threads=1

cmd=(mpirun --hostfile "$hostfile" -np "$n")
[ "$(id -u)" -ne 0 ] || cmd+=(--allow-run-as-root)
[ -z "${FTDIST_MPI_PREFIX:-}" ] || cmd+=(--prefix "$FTDIST_MPI_PREFIX")
[ -z "${FTDIST_RSH_AGENT:-}" ] || cmd+=(--mca plm_rsh_agent "$FTDIST_RSH_AGENT")
bind=${FTDIST_BIND_TO:-core}
case "$bind" in core|none) ;; *) die "FTDIST_BIND_TO must be core or none, got '$bind'" ;; esac
if [ "$bind" = none ]; then
  cmd+=(--map-by slot --bind-to none)
elif [ "$max_slots" -gt "$cores" ]; then
  cmd+=(--map-by slot --bind-to none)
elif [ "$threads" -gt 1 ]; then
  cmd+=(--map-by "slot:PE=$threads" --bind-to core)
else
  cmd+=(--map-by slot --bind-to core)
fi
cmd+=(--mca pml ob1 --mca btl "${FTDIST_BTL:-self,vader,tcp}")
algorithm=${FTDIST_ALLREDUCE_ALGORITHM:-$([ "$hosts" -gt 1 ] && echo 3 || echo 0)}
[[ "$algorithm" =~ ^[0-6]$ ]] || die "FTDIST_ALLREDUCE_ALGORITHM must be 0 (Open MPI's choice) to 6, got '$algorithm'"
if [ "$algorithm" != 0 ]; then
  cmd+=(--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm "$algorithm")
fi
if [ -n "${FTDIST_NET_IF:-}" ]; then
  cmd+=(--mca btl_tcp_if_include "$FTDIST_NET_IF" --mca oob_tcp_if_include "$FTDIST_NET_IF")
fi
cmd+=(-x "OPENBLAS_NUM_THREADS=$threads" -x "OMP_NUM_THREADS=$threads")
while IFS= read -r var; do
  cmd+=(-x "$var")
done < <(compgen -e | grep '^FTDIST_' || true)
cmd+=("$bin" "$@")

cd "$ROOT"
printf '[launch] %d rank(s) on %d host(s) (%d slots), %d core(s) per host, %d OpenBLAS thread(s) per rank\n' \
  "$n" "$hosts" "$total_slots" "$cores" "$threads"
printf '[launch]'; printf ' %q' "${cmd[@]}"; printf '\n'
# train: Ctrl-C / SIGTERM stop after the current step with a final checkpoint (lib/mpirun.sh)
source "$ROOT/launch/lib/mpirun.sh"
run_mpirun "${1:-}" "${cmd[@]}"
