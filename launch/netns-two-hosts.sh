#!/usr/bin/env bash
# Two "hosts" on one machine: two network namespaces joined by a veth pair, with
# Open MPI starting its daemon in the other namespace through launch/netns-agent.sh
# (its rsh agent, instead of ssh). Exercises the multi-host path of
# launch/hostfile.sh (TCP between hosts, one daemon per host) without a second machine.
#
# Usage: launch/netns-two-hosts.sh [--rate RATE] up | down | doctor [doctor args] | run [ft-dist args...]
#   up      create namespaces ftd-h1 (10.231.0.1) and ftd-h2 (10.231.0.2), the veth
#           pair ftd-v1/ftd-v2 between them, and /etc/netns/ftd-hN/hosts naming
#           both (idempotent)
#   down    remove them again
#   doctor  `ft-dist doctor` with 2 ranks, one per namespace; checks that the ranks
#           ran on both hosts and that the all-reduce crossed the veth
#   run     `ft-dist ARGS...` the same way, e.g. run train --max-steps 10
#   --rate RATE  shape both ends of the link to RATE (tc tbf; e.g. 1gbit, 10gbit, 25gbit, 500mbit)
#           when the namespaces come up (up, doctor, run); --rate none removes the shaping.
#           Without --rate the link keeps whatever shaping it has. (No --delay: adding latency
#           needs tc's netem, which this kernel does not have; tbf and fq only limit the rate.)
# doctor and run bring the namespaces up first. mpirun runs inside ftd-h1 with
# hostname ftd-h1 (own UTS namespace); rank 1's daemon runs inside ftd-h2 with
# hostname ftd-h2. MPI traffic is restricted to 10.231.0.0/24, so it goes over the veth.
# The filesystem is shared: both ranks run the same binary (.build/release/ft-dist,
# FTDIST_BIN overrides) from the repository root. Needs root, iproute2 (ip) and
# util-linux (unshare). Every FTDIST_* variable reaches the ranks (launch/hostfile.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NS1=ftd-h1 NS2=ftd-h2
IP1=10.231.0.1 IP2=10.231.0.2 NET=10.231.0.0/24
VETH1=ftd-v1 VETH2=ftd-v2
HOSTFILE=${TMPDIR:-/tmp}/ftd-netns-two-hosts.txt
RATE=   # --rate: a tc rate, "none", or empty (leave the link as it is)

log() { printf '[netns] %s\n' "$*" >&2; }
die() { printf '[netns] error: %s\n' "$*" >&2; exit 1; }

preflight() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)"
  command -v ip >/dev/null 2>&1 || die "'ip' not found (apt-get install -y iproute2)"
  command -v unshare >/dev/null 2>&1 || die "'unshare' not found (apt-get install -y util-linux)"
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qxF -- "$1"; }

# Namespace $1 has interface $2 up with address $3.
has_addr() {
  ip -n "$1" -4 -o addr show dev "$2" 2>/dev/null | grep -qF " $3/" &&
    ip -n "$1" link show dev "$2" 2>/dev/null | grep -q ',UP'
}

healthy() {
  ns_exists "$NS1" && ns_exists "$NS2" &&
    has_addr "$NS1" "$VETH1" "$IP1" && has_addr "$NS2" "$VETH2" "$IP2" &&
    has_addr "$NS1" lo 127.0.0.1 && has_addr "$NS2" lo 127.0.0.1 &&
    [ -f "/etc/netns/$NS1/hosts" ] && [ -f "/etc/netns/$NS2/hosts" ]
}

cmd_down() {
  preflight
  local ns
  for ns in "$NS1" "$NS2"; do
    if ns_exists "$ns"; then ip netns delete "$ns"; fi   # takes the veth pair with it
    rm -f "/etc/netns/$ns/hosts"
    rmdir "/etc/netns/$ns" 2>/dev/null || true
  done
  rmdir /etc/netns 2>/dev/null || true
  ip link delete "$VETH1" 2>/dev/null || true               # a leftover in the root namespace
  rm -f "$HOSTFILE"
  log "namespaces $NS1 and $NS2 removed"
}

cmd_up() {
  preflight
  if healthy; then log "namespaces $NS1 ($IP1) and $NS2 ($IP2) already up"; apply_rate; return; fi
  cmd_down >/dev/null 2>&1 || true
  ip netns add "$NS1" || die "cannot create network namespaces (ip netns add failed)"
  ip netns add "$NS2"
  ip link add "$VETH1" type veth peer name "$VETH2"
  ip link set "$VETH1" netns "$NS1"
  ip link set "$VETH2" netns "$NS2"
  ip -n "$NS1" addr add "$IP1/24" dev "$VETH1"
  ip -n "$NS2" addr add "$IP2/24" dev "$VETH2"
  local ns
  for ns in "$NS1" "$NS2"; do
    ip -n "$ns" link set lo up
    # `ip netns exec NS` bind-mounts /etc/netns/NS/hosts over /etc/hosts.
    mkdir -p "/etc/netns/$ns"
    printf '127.0.0.1\tlocalhost\n%s\t%s\n%s\t%s\n' "$IP1" "$NS1" "$IP2" "$NS2" > "/etc/netns/$ns/hosts"
  done
  ip -n "$NS1" link set "$VETH1" up
  ip -n "$NS2" link set "$VETH2" up
  healthy || die "namespaces created but not healthy (see: ip -n $NS1 addr; ip -n $NS2 addr)"
  log "namespaces up: $NS1 ($IP1, $VETH1) <-> $NS2 ($IP2, $VETH2)"
  apply_rate
}

# RATE as bits per second (tc's units: bit, kbit, mbit, gbit); fails on anything else.
rate_bits() {
  local n unit
  n=$(printf '%s' "$1" | sed -n 's/^\([0-9][0-9]*\)\([kmg]\{0,1\}bit\)$/\1/p')
  unit=$(printf '%s' "$1" | sed -n 's/^\([0-9][0-9]*\)\([kmg]\{0,1\}bit\)$/\2/p')
  [ -n "$n" ] && [ "$n" -gt 0 ] || return 1
  case "$unit" in bit) echo "$n" ;; kbit) echo $((n * 1000)) ;; mbit) echo $((n * 1000000)) ;; gbit) echo $((n * 1000000000)) ;; esac
}

# Applies --rate to both ends of the veth: a token bucket of RATE with a burst of 10 ms of
# traffic (at least 64 KB), so that the rate holds over every 10 ms, not just on average.
apply_rate() {
  [ -n "$RATE" ] || return 0
  command -v tc >/dev/null 2>&1 || die "'tc' not found (apt-get install -y iproute2)"
  local ns dev ns_dev
  for ns_dev in "$NS1:$VETH1" "$NS2:$VETH2"; do
    ns=${ns_dev%%:*} dev=${ns_dev#*:}
    if [ "$RATE" = none ]; then
      tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
    else
      local bits burst
      bits=$(rate_bits "$RATE") || die "--rate $RATE: expected a number with bit, kbit, mbit or gbit (e.g. 10gbit), or none"
      burst=$((bits / 8 / 100)); [ "$burst" -ge 65536 ] || burst=65536
      tc -n "$ns" qdisc replace dev "$dev" root tbf rate "$RATE" burst "$burst" latency 100ms ||
        die "tc could not shape $dev in $ns to $RATE"
    fi
  done
  if [ "$RATE" = none ]; then log "link unshaped"; else log "link shaped to $RATE each way (tc tbf on $VETH1 and $VETH2)"; fi
}

# Bytes received + sent on ftd-h1's end of the veth.
veth_bytes() {
  # shellcheck disable=SC2016  # $1 expands in the inner shell
  ip netns exec "$NS1" sh -c 'echo $(( $(cat "$1/rx_bytes") + $(cat "$1/tx_bytes") ))' sh \
    "/sys/class/net/$VETH1/statistics"
}

# Runs launch/hostfile.sh with 2 ranks over the two namespaces.
launch() {
  local bin=${FTDIST_BIN:-$ROOT/.build/release/ft-dist}
  case "$bin" in /*) ;; *) bin=$ROOT/$bin ;; esac
  [ -x "$bin" ] || die "$bin not found or not executable (build with: swift build -c release)"
  printf '# written by launch/netns-two-hosts.sh\n%s slots=1\n%s slots=1\n' "$NS1" "$NS2" > "$HOSTFILE"
  local env=(FTDIST_BIN="$bin" FTDIST_NET_IF="$NET"
             OMPI_MCA_plm_rsh_agent="$ROOT/launch/netns-agent.sh")
  if grep -q FTDIST_BIND_TO "$ROOT/launch/hostfile.sh"; then
    # Both "hosts" share this machine's cores: half each, TCP only, no binding
    # (each daemon would otherwise bind its rank to the same core 0).
    local cores=$(( $(nproc) / 2 )); [ "$cores" -ge 1 ] || cores=1
    env+=(FTDIST_CORES_PER_HOST="${FTDIST_CORES_PER_HOST:-$cores}" FTDIST_BIND_TO=none "FTDIST_BTL=self,tcp"
          FTDIST_RSH_AGENT="$ROOT/launch/netns-agent.sh")
  fi
  # mpirun in ftd-h1 with hostname ftd-h1 (a UTS namespace of its own).
  # shellcheck disable=SC2016  # $1 expands in the inner shell
  ip netns exec "$NS1" unshare --uts /bin/sh -c 'hostname "$1" && shift && exec "$@"' sh "$NS1" \
    env "${env[@]}" "$ROOT/launch/hostfile.sh" "$HOSTFILE" 2 "$@"
}

cmd_doctor() {
  cmd_up
  local out before after status=0
  out=$(mktemp)
  before=$(veth_bytes)
  launch doctor "$@" | tee "$out" || status=$?
  after=$(veth_bytes)
  local h0 h1
  h0=$(awk '$1 == "rank" && $2 == "0" && $3 == "on" {print $4}' "$out")
  h1=$(awk '$1 == "rank" && $2 == "1" && $3 == "on" {print $4}' "$out")
  rm -f "$out"
  [ "$status" -eq 0 ] || die "ft-dist doctor failed (exit $status)"
  printf '[netns] rank 0 ran on host %s, rank 1 on host %s; %s carried %d bytes during the run\n' \
    "${h0:-?}" "${h1:-?}" "$VETH1<->$VETH2" "$((after - before))"
  if [ -n "$h0" ] && [ -n "$h1" ]; then
    if [ "$h0" != "$NS1" ] || [ "$h1" != "$NS2" ]; then
      die "expected rank 0 on $NS1 and rank 1 on $NS2"
    fi
  fi
  [ "$((after - before))" -gt 0 ] || die "no traffic crossed the veth pair"
}

cmd_run() {
  [ $# -ge 1 ] || die "usage: launch/netns-two-hosts.sh run FT-DIST-ARGS... (e.g. run train --max-steps 10)"
  cmd_up
  launch "$@"
}

while [ $# -ge 1 ]; do
  case "$1" in
    --rate) [ $# -ge 2 ] || die "--rate needs a value (e.g. 10gbit, or none)"; RATE=$2; shift 2
            [ "$RATE" = none ] || rate_bits "$RATE" >/dev/null || die "--rate $RATE: expected a number with bit, kbit, mbit or gbit (e.g. 10gbit), or none" ;;
    --delay) die "--delay is not available: adding latency needs tc's netem, which this kernel does not have" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "usage: launch/netns-two-hosts.sh [--rate RATE] up|down|doctor [args]|run ft-dist-args..."
sub=$1; shift
case "$sub" in
  up) [ $# -eq 0 ] || die "up takes no arguments"; cmd_up ;;
  down) [ $# -eq 0 ] || die "down takes no arguments"; cmd_down ;;
  doctor) cmd_doctor "$@" ;;
  run) cmd_run "$@" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown command '$sub' (up, down, doctor, run)" ;;
esac
