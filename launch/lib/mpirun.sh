# Sourced by the launchers: run_mpirun SUBCOMMAND MPIRUN-COMMAND...
#
# For `train`, a stop must keep the run: Ctrl-C or SIGTERM ends it after the current step
# with a final checkpoint. mpirun's own SIGINT/SIGTERM handling does not give that: it kills
# the ranks (Open MPI 4.1: SIGTERM, then SIGKILL after odls_base_sigkill_timeout, 1 s by
# default — less than a step of the 270M model, so the last checkpoint's later steps were
# lost; a longer timeout only delays the ranks' SIGTERM and mpirun's own exit by as much).
# SIGUSR1 is what mpirun forwards to every rank at once. So mpirun runs in a session of its
# own (a terminal's Ctrl-C reaches this script, not mpirun or the ranks), the first
# SIGINT/SIGTERM is passed on as SIGUSR1 — the ranks agree to stop after the step they are
# in, rank 0 writes the final checkpoint, all exit — and a second one stops mpirun at once.
# The script then exits 130 (SIGINT) or 143 (SIGTERM). stdin is /dev/null: training reads
# none, and mpirun would otherwise keep the terminal's input.
#
# Other subcommands replace this shell with mpirun, as before.
run_mpirun() {
  local subcommand=$1
  shift
  if [ "$subcommand" != train ]; then
    exec "$@"
  fi
  # errexit would end this script when `wait` returns early for a trapped signal
  set +e
  local pid="" stops=0 code=0 status
  stop() {
    stops=$((stops + 1))
    code=$1
    # the signal first, the words after: with `| tee` a Ctrl-C also ends tee, and a write to
    # the broken pipe must not end this script before mpirun heard of the stop
    if [ -n "$pid" ]; then
      if [ "$stops" -eq 1 ]; then kill -USR1 "$pid" 2>/dev/null; else kill -TERM "$pid" 2>/dev/null; fi
    fi
    if [ "$stops" -eq 1 ]; then
      printf '[launch] stopping after the current step; rank 0 writes a final checkpoint (signal again to stop at once)\n' >&2
    else
      printf '[launch] stopping at once: the steps since the last checkpoint are lost\n' >&2
    fi
  }
  # set before mpirun starts: a signal in between would otherwise end this script and leave
  # mpirun running in its own session
  trap 'stop 130' INT
  trap 'stop 143' TERM
  trap 'stop 129' HUP   # the terminal closed: mpirun, in its own session, would run on
  # a session of its own: a terminal's Ctrl-C reaches this script alone (setsid execs in
  # place here: a background child of a shell without job control leads no process group)
  setsid "$@" </dev/null &
  pid=$!
  # after the start, so that mpirun and the ranks keep the default SIGPIPE (an ignored
  # signal would be inherited)
  trap '' PIPE
  # a stop that came before mpirun existed: the ranks install their handlers first thing
  if [ "$stops" -gt 0 ]; then kill -USR1 "$pid" 2>/dev/null; fi
  while true; do
    wait "$pid"
    status=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  trap - INT TERM HUP
  if [ "$stops" -gt 0 ]; then
    printf '[launch] stopped; continue the run with the same command and --resume latest\n' >&2
    exit "$code"
  fi
  exit "$status"
}
