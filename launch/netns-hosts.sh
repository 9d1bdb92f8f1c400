#!/usr/bin/env bash
# N "hosts" on one machine (2 to 8): network namespaces ftd-h1 … ftd-hN, each one rank of
# an Open MPI hostfile, with Open MPI starting its daemons in the other namespaces through
# launch/netns-agent.sh (its rsh agent, instead of ssh). Exercises the multi-host path of
# launch/hostfile.sh (TCP between hosts, one daemon per host) without more machines.
#   2 hosts: one veth pair, ftd-v1 <-> ftd-v2.
#   3+ hosts: each host's veth ftd-vK ends on port ftd-pK of a bridge (a switch) in the
#             namespace ftd-sw, so every host has one link of its own, as in a rack.
#
# Usage: launch/netns-hosts.sh [--hosts N] [--rate RATE] up | down | doctor [doctor args] | run [ft-dist args...]
#   --hosts N    how many hosts (default 2; launch/netns-two-hosts.sh is this with 2)
#   up      create the namespaces (10.231.0.K for ftd-hK), their links, and
#           /etc/netns/ftd-hK/hosts naming all of them (idempotent)
#   down    remove them again (whatever number of hosts was up)
#   doctor  `ft-dist doctor` with N ranks, one per namespace; checks that rank K ran on
#           ftd-h(K+1) and that the collectives crossed the links
#   run     `ft-dist ARGS...` the same way, e.g. run train --max-steps 10
#   --rate RATE  shape every host's link to RATE each way (tc tbf on both ends of each veth;
#           e.g. 1gbit, 10gbit, 500mbit) when the namespaces come up (up, doctor, run);
#           --rate none removes the shaping. Without --rate the links keep whatever shaping
#           they have. (No --delay: adding latency needs tc's netem, which this kernel lacks;
#           tbf and fq only limit the rate.)
# doctor and run bring the namespaces up first. mpirun runs inside ftd-h1 with hostname
# ftd-h1 (own UTS namespace); rank K's daemon runs inside ftd-h(K+1) with that hostname. MPI
# traffic is restricted to 10.231.0.0/24, so it goes over the links. The filesystem is
# shared: every rank runs the same binary (.build/release/ft-dist, FTDIST_BIN overrides) from
# the repository root, and the hosts share this machine's cores (nproc / N each). Needs root,
# iproute2 (ip, tc) and util-linux (unshare). Every FTDIST_* variable reaches the ranks
# (launch/hostfile.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOSTS=2
SWITCH=ftd-sw BRIDGE=ftd-br NET=10.231.0.0/24
HOSTFILE=${TMPDIR:-/tmp}/ftd-netns-hosts.txt
RATE=   # --rate: a tc rate, "none", or empty (leave the links as they are)

log() { printf '[netns] %s\n' "$*" >&2; }
die() { printf '[netns] error: %s\n' "$*" >&2; exit 1; }

ns() { echo "ftd-h$1"; }
ip_of() { echo "10.231.0.$1"; }
veth() { echo "ftd-v$1"; }     # host K's end of its link
port() { echo "ftd-p$1"; }     # the switch's end (3+ hosts)

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

# Up with exactly $HOSTS hosts, in the topology for that number.
healthy() {
  local k
  for k in $(seq 1 "$HOSTS"); do
    ns_exists "$(ns "$k")" && has_addr "$(ns "$k")" "$(veth "$k")" "$(ip_of "$k")" &&
      has_addr "$(ns "$k")" lo 127.0.0.1 && [ -f "/etc/netns/$(ns "$k")/hosts" ] || return 1
  done
  ! ns_exists "$(ns $((HOSTS + 1)))" || return 1
  if [ "$HOSTS" -ge 3 ]; then ns_exists "$SWITCH" || return 1; else ! ns_exists "$SWITCH" || return 1; fi
}

cmd_down() {
  preflight
  local k n
  for k in $(seq 1 8); do
    n=$(ns "$k")
    if ns_exists "$n"; then ip netns delete "$n"; fi   # takes its veth with it
    rm -f "/etc/netns/$n/hosts"
    rmdir "/etc/netns/$n" 2>/dev/null || true
    ip link delete "$(veth "$k")" 2>/dev/null || true  # a leftover in the root namespace
  done
  if ns_exists "$SWITCH"; then ip netns delete "$SWITCH"; fi
  rmdir /etc/netns 2>/dev/null || true
  rm -f "$HOSTFILE"
  log "network namespaces removed"
}

cmd_up() {
  preflight
  if healthy; then log "$HOSTS namespace hosts already up"; apply_rate; return; fi
  cmd_down >/dev/null 2>&1 || true
  local k names=
  for k in $(seq 1 "$HOSTS"); do
    ip netns add "$(ns "$k")" || die "cannot create network namespaces (ip netns add failed)"
    names+=$(printf '%s\t%s\n' "$(ip_of "$k")" "$(ns "$k")")$'\n'
  done
  if [ "$HOSTS" -eq 2 ]; then
    ip link add "$(veth 1)" type veth peer name "$(veth 2)"
    ip link set "$(veth 1)" netns "$(ns 1)"
    ip link set "$(veth 2)" netns "$(ns 2)"
  else
    ip netns add "$SWITCH"
    ip -n "$SWITCH" link add "$BRIDGE" type bridge
    ip -n "$SWITCH" link set "$BRIDGE" up
    for k in $(seq 1 "$HOSTS"); do
      ip link add "$(veth "$k")" type veth peer name "$(port "$k")"
      ip link set "$(veth "$k")" netns "$(ns "$k")"
      ip link set "$(port "$k")" netns "$SWITCH"
      ip -n "$SWITCH" link set "$(port "$k")" master "$BRIDGE"
      ip -n "$SWITCH" link set "$(port "$k")" up
    done
  fi
  for k in $(seq 1 "$HOSTS"); do
    local n; n=$(ns "$k")
    ip -n "$n" addr add "$(ip_of "$k")/24" dev "$(veth "$k")"
    ip -n "$n" link set lo up
    ip -n "$n" link set "$(veth "$k")" up
    # `ip netns exec NS` bind-mounts /etc/netns/NS/hosts over /etc/hosts.
    mkdir -p "/etc/netns/$n"
    printf '127.0.0.1\tlocalhost\n%s' "$names" > "/etc/netns/$n/hosts"
  done
  healthy || die "namespaces created but not healthy (see: ip -n $(ns 1) addr)"
  if [ "$HOSTS" -eq 2 ]; then log "namespaces up: $(ns 1) ($(ip_of 1)) <-> $(ns 2) ($(ip_of 2))"
  else log "namespaces up: $(ns 1) … $(ns "$HOSTS") (10.231.0.1 … $(ip_of "$HOSTS")), one link each to a bridge in $SWITCH"; fi
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

# Applies --rate to both ends of every link: a token bucket of RATE with a burst of 10 ms of
# traffic (at least 64 KB), so that the rate holds over every 10 ms, not just on average.
apply_rate() {
  [ -n "$RATE" ] || return 0
  command -v tc >/dev/null 2>&1 || die "'tc' not found (apt-get install -y iproute2)"
  local k ends=()
  for k in $(seq 1 "$HOSTS"); do
    ends+=("$(ns "$k"):$(veth "$k")")
    [ "$HOSTS" -eq 2 ] || ends+=("$SWITCH:$(port "$k")")
  done
  local end n dev bits burst
  for end in "${ends[@]}"; do
    n=${end%%:*} dev=${end#*:}
    if [ "$RATE" = none ]; then
      tc -n "$n" qdisc del dev "$dev" root 2>/dev/null || true
    else
      bits=$(rate_bits "$RATE") || die "--rate $RATE: expected a number with bit, kbit, mbit or gbit (e.g. 10gbit), or none"
      burst=$((bits / 8 / 100)); [ "$burst" -ge 65536 ] || burst=65536
      tc -n "$n" qdisc replace dev "$dev" root tbf rate "$RATE" burst "$burst" latency 100ms ||
        die "tc could not shape $dev in $n to $RATE"
    fi
  done
  if [ "$RATE" = none ]; then log "links unshaped"; else log "every link shaped to $RATE each way (tc tbf on both ends)"; fi
}

# Bytes received + sent on ftd-h1's link.
link_bytes() {
  # shellcheck disable=SC2016  # $1 expands in the inner shell
  ip netns exec "$(ns 1)" sh -c 'echo $(( $(cat "$1/rx_bytes") + $(cat "$1/tx_bytes") ))' sh \
    "/sys/class/net/$(veth 1)/statistics"
}

# Runs launch/hostfile.sh with one rank per namespace host.
launch() {
  local bin=${FTDIST_BIN:-$ROOT/.build/release/ft-dist}
  case "$bin" in /*) ;; *) bin=$ROOT/$bin ;; esac
  [ -x "$bin" ] || die "$bin not found or not executable (build with: swift build -c release)"
  { echo "# written by launch/netns-hosts.sh"; for k in $(seq 1 "$HOSTS"); do echo "$(ns "$k") slots=1"; done; } > "$HOSTFILE"
  # The hosts share this machine's cores: nproc / N each, TCP only, no binding (each daemon
  # would otherwise bind its rank to the same core 0).
  local cores=$(( $(nproc) / HOSTS )); [ "$cores" -ge 1 ] || cores=1
  local env=(FTDIST_BIN="$bin" FTDIST_NET_IF="$NET" OMPI_MCA_plm_rsh_agent="$ROOT/launch/netns-agent.sh"
             FTDIST_CORES_PER_HOST="${FTDIST_CORES_PER_HOST:-$cores}" FTDIST_BIND_TO=none "FTDIST_BTL=self,tcp"
             FTDIST_RSH_AGENT="$ROOT/launch/netns-agent.sh")
  # mpirun in ftd-h1 with hostname ftd-h1 (a UTS namespace of its own).
  # shellcheck disable=SC2016  # $1 expands in the inner shell
  ip netns exec "$(ns 1)" unshare --uts /bin/sh -c 'hostname "$1" && shift && exec "$@"' sh "$(ns 1)" \
    env "${env[@]}" "$ROOT/launch/hostfile.sh" "$HOSTFILE" "$HOSTS" "$@"
}

cmd_doctor() {
  cmd_up
  local out before after status=0
  out=$(mktemp)
  before=$(link_bytes)
  launch doctor "$@" | tee "$out" || status=$?
  after=$(link_bytes)
  local k host placed=
  for k in $(seq 0 $((HOSTS - 1))); do
    host=$(awk -v r="$k" '$1 == "rank" && $2 == r && $3 == "on" {print $4}' "$out")
    placed+="rank $k on ${host:-?}, "
    if [ -n "$host" ] && [ "$host" != "$(ns $((k + 1)))" ]; then rm -f "$out"; die "expected rank $k on $(ns $((k + 1))), not $host"; fi
  done
  rm -f "$out"
  [ "$status" -eq 0 ] || die "ft-dist doctor failed (exit $status)"
  printf '[netns] %s%s carried %d bytes during the run\n' "$placed" "$(ns 1)'s link" "$((after - before))"
  [ "$((after - before))" -gt 0 ] || die "no traffic crossed the links"
}

cmd_run() {
  [ $# -ge 1 ] || die "usage: launch/netns-hosts.sh run FT-DIST-ARGS... (e.g. run train --max-steps 10)"
  cmd_up
  launch "$@"
}

while [ $# -ge 1 ]; do
  case "$1" in
    --hosts) [ $# -ge 2 ] || die "--hosts needs a number (2 to 8)"; HOSTS=$2; shift 2
             case "$HOSTS" in [2-8]) ;; *) die "--hosts $HOSTS: expected a number from 2 to 8" ;; esac ;;
    --rate) [ $# -ge 2 ] || die "--rate needs a value (e.g. 10gbit, or none)"; RATE=$2; shift 2
            [ "$RATE" = none ] || rate_bits "$RATE" >/dev/null || die "--rate $RATE: expected a number with bit, kbit, mbit or gbit (e.g. 10gbit), or none" ;;
    --delay) die "--delay is not available: adding latency needs tc's netem, which this kernel does not have" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || die "usage: launch/netns-hosts.sh [--hosts N] [--rate RATE] up|down|doctor [args]|run ft-dist-args..."
sub=$1; shift
case "$sub" in
  up) [ $# -eq 0 ] || die "up takes no arguments"; cmd_up ;;
  down) [ $# -eq 0 ] || die "down takes no arguments"; cmd_down ;;
  doctor) cmd_doctor "$@" ;;
  run) cmd_run "$@" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' ;;
  *) die "unknown command '$sub' (up, down, doctor, run)" ;;
esac
