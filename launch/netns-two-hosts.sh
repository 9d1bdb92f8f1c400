#!/usr/bin/env bash
# Two "hosts" on one machine: launch/netns-hosts.sh with --hosts 2 — two network namespaces
# (ftd-h1 10.231.0.1, ftd-h2 10.231.0.2) joined by a veth pair, Open MPI's second daemon
# started in ftd-h2 through launch/netns-agent.sh instead of ssh.
#
# Usage: launch/netns-two-hosts.sh [--rate RATE] up | down | doctor [doctor args] | run [ft-dist args...]
# (see launch/netns-hosts.sh --help; e.g. --rate 1gbit run bench --steps 5)
set -euo pipefail
case "${1:-}" in
  -h|--help|help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns-hosts.sh" --hosts 2 "$@"
