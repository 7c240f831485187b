#!/usr/bin/env bash
# Shared by the scripts: a background process known by its PID file (cluster.sh, kafka.sh, node.sh…), and the
# demos' headings and waits.
# Sourced, not run; defines functions only.

# pid_running PIDFILE: true while the process the file names is alive.
pid_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE: SIGTERM, up to 20 s for it to exit, then SIGKILL; removes the file.
stop_pid() {
  if pid_running "$1"; then
    local pid
    pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# say TEXT: a heading of a demo's step.
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# wait_until SECONDS COMMAND...: runs COMMAND (quietly) every second until it succeeds; fails after SECONDS.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for: $*" >&2; return 1; }
    sleep 1
  done
}
