#!/usr/bin/env bash
# A real PostgreSQL 15 server on 127.0.0.1 for the services' tests: Debian's `postgresql` package, a cluster
# made by initdb in its own folder and run by pg_ctl (no system service), fsync off (a test server).
#
#   scripts/postgres.sh up      # install if needed (apt, as root), initdb once, start; prints the env to use
#   scripts/postgres.sh env     # eval "$(scripts/postgres.sh env)": MICROFLEET_PG_URL
#   scripts/postgres.sh down    # stop it (pg_ctl stop, by the PID in its folder) and delete its data
#   scripts/postgres.sh kill    # SIGKILL the server and its backends (a crash; the data stays, for `start`)
#   scripts/postgres.sh start   # start it again on its existing data (after `kill`; crash recovery runs)
#   scripts/postgres.sh status
#
# Settings (environment): MICROFLEET_PG_DIR (/tmp/microfleet-postgres: data, log, socket),
# MICROFLEET_PG_PORT (15432), MICROFLEET_PG_VERSION (15), MICROFLEET_PG_POD_CIDR (unset): also accept password
# logins from that subnet, e.g. 10.88.0.0/16 — pods on the pod network (scripts/node.sh with
# MICROFLEET_POD_NETWORK=1) reach the server at their bridge's address, DNATed to 127.0.0.1 with their own
# address as the source. initdb refuses to run as root: as root the server
# runs as the unprivileged `postgres` system user (created if missing). Tests create one database each.
set -euo pipefail
cd "$(dirname "$0")/.."

version="${MICROFLEET_PG_VERSION:-15}"
dir="${MICROFLEET_PG_DIR:-/tmp/microfleet-postgres}"
port="${MICROFLEET_PG_PORT:-15432}"
bin="/usr/lib/postgresql/$version/bin"
data="$dir/data"
superuser="microfleet"
pod_cidr="${MICROFLEET_PG_POD_CIDR:-}"
password="microfleet"

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { printf 'postgres: error: %s\n' "$*" >&2; exit 1; }

install() {
  [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && return
  [ "$(id -u)" = 0 ] || die "PostgreSQL $version is not installed: run 'apt-get install -y postgresql-$version' as root"
  log "installing Debian's postgresql-$version (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "postgresql-$version" >&2 ||
    die "apt-get install postgresql-$version failed"
}

# as_owner CMD...: runs a command as the server's owner (the `postgres` user when we are root)
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

owner_account() {
  [ "$(id -u)" = 0 ] || return 0
  id postgres >/dev/null 2>&1 && return
  log "creating the unprivileged 'postgres' system user"
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
}

running() { [ -f "$data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

init() {
  [ -f "$data/PG_VERSION" ] && return
  rm -rf "$dir"
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  local pwfile="$dir/.pw"
  printf '%s\n' "$password" | as_owner tee "$pwfile" >/dev/null
  as_owner "$bin/initdb" -D "$data" -U "$superuser" --pwfile="$pwfile" --auth=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || die "initdb failed: $(tail -n 20 "$dir/initdb.log")"
  rm -f "$pwfile"
  as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
EOF
}

# pod_access: the pg_hba.conf line of MICROFLEET_PG_POD_CIDR (once); reloads a running server
pod_access() {
  [ -n "$pod_cidr" ] || return 0
  local line="host all all $pod_cidr scram-sha-256"
  grep -qxF "$line" "$data/pg_hba.conf" && return
  printf '%s\n' "$line" | as_owner tee -a "$data/pg_hba.conf" >/dev/null
  if running; then as_owner "$bin/pg_ctl" -D "$data" reload >/dev/null; fi
  log "accepting logins from $pod_cidr"
}

up() {
  install
  owner_account
  if running; then
    pod_access
    log "already running (dir $dir)"
    env_lines
    return
  fi
  local started=$SECONDS
  init
  pod_access
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
    die "PostgreSQL did not start: $(tail -n 20 "$dir/postgres.log" 2>/dev/null)"
  log "PostgreSQL $version up in $((SECONDS - started)) s on 127.0.0.1:$port (dir $dir)"
  env_lines
}

# kill: SIGKILL the postmaster and its children (by parent PID), as a crash does; keeps the data
crash() {
  [ -f "$data/postmaster.pid" ] || die "not running (no $data/postmaster.pid)"
  local pid
  pid="$(head -n 1 "$data/postmaster.pid")"
  kill -KILL "$pid" 2>/dev/null || true
  pkill -KILL -P "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  log "killed (pid $pid; data kept in $dir)"
}

# start: the server again on its existing data (after `kill`); retried while the old backends let go
start() {
  [ -f "$data/PG_VERSION" ] || die "no data in $data: use 'up'"
  if running; then
    log "already running (dir $dir)"
    env_lines
    return
  fi
  local started=$SECONDS
  until as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null; do
    [ $((SECONDS - started)) -lt 60 ] || die "PostgreSQL did not start again: $(tail -n 20 "$dir/postgres.log" 2>/dev/null)"
    sleep 0.5
  done
  log "PostgreSQL $version started again in $((SECONDS - started)) s on 127.0.0.1:$port (dir $dir)"
  env_lines
}

env_lines() { echo "export MICROFLEET_PG_URL=postgres://$superuser:$password@127.0.0.1:$port/postgres"; }

down() {
  if running; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null || die "pg_ctl stop failed"
  fi
  rm -rf "$dir"
  log "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  kill) crash ;;
  start) start ;;
  env) env_lines ;;
  status)
    if [ -x "$bin/pg_ctl" ] && running; then
      echo "postgres: running (pid $(head -n 1 "$data/postmaster.pid"))"
    else
      echo "postgres: stopped"
    fi
    ;;
  *) die "usage: scripts/postgres.sh up|down|kill|start|env|status" ;;
esac
