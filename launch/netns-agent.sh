#!/usr/bin/env bash
# Open MPI "rsh agent" that starts a command in a network namespace of this machine
# instead of on another machine over ssh: launch/netns-two-hosts.sh passes it as
#   --mca plm_rsh_agent launch/netns-agent.sh   (or OMPI_MCA_plm_rsh_agent=...)
# so that each namespace acts as one "host" of an Open MPI hostfile.
#
# Called like ssh:  netns-agent.sh [ssh options] [user@]HOST COMMAND...
# HOST is a namespace name (ftd-h1) or an IPv4 address owned by a namespace
# (10.231.0.2). COMMAND (Open MPI's orted line) runs there through sh, in a fresh
# UTS namespace whose hostname is the namespace name, so every rank reports the
# "host" it runs on. Needs root (ip netns exec).
set -euo pipefail

die() { printf '[netns-agent] error: %s\n' "$*" >&2; exit 255; }

# ssh options are accepted and ignored (Open MPI passes none by default).
while [ $# -gt 0 ]; do
  case "$1" in
    -[BbcDEeFIiJLlmOoPpQRSWw]) [ $# -ge 2 ] || die "option $1 needs a value"; shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || die "usage: netns-agent.sh [ssh options] HOST COMMAND..."
host=${1#*@}; shift

namespaces=$(ip netns list | awk '{print $1}')
ns=
if printf '%s\n' "$namespaces" | grep -qxF -- "$host"; then
  ns=$host
else
  # An address: the namespace that owns it (names resolve through /etc/hosts).
  addr=$host
  if ! [[ "$addr" =~ ^[0-9]+(\.[0-9]+){3}$ ]]; then
    addr=$(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}') || true
  fi
  [ -n "$addr" ] || die "cannot resolve host '$host'"
  for candidate in $namespaces; do
    if ip -n "$candidate" -4 -o addr show | awk '{sub("/.*", "", $4); print $4}' | grep -qxF -- "$addr"; then
      ns=$candidate
      break
    fi
  done
fi
[ -n "$ns" ] || die "no network namespace named or owning '$host' (run launch/netns-two-hosts.sh up)"

# Like sshd: the remote command is the arguments joined by spaces, run by a shell.
# shellcheck disable=SC2016  # $1 and $2 expand in the inner shell
exec ip netns exec "$ns" unshare --uts /bin/sh -c 'hostname "$1" || exit 255; eval "$2"' sh "$ns" "$*"
