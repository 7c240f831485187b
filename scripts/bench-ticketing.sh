#!/usr/bin/env bash
# Benchmark (not a test) of the ticketing saga and the gate scans. In one run on 127.0.0.1, with its own
# PostgreSQL 15 and Kafka broker (scripts/postgres.sh and scripts/kafka.sh on their own ports and folders), the
# auth service and both services (release builds, each on its own database of that server; the load generator
# and the gate devices authenticate with API keys the auth service issued, which the services introspect and
# cache for AUTH_CACHE_TTL_SECONDS), it measures side by side
#   pgbench    pgbench's default TPC-B script on the same PostgreSQL server: the limit of a small transaction,
#   insert     a pgbench script of one-row INSERTs: the limit of one commit per request,
#   saga       paid orders per second through the whole saga — order placed, paid (ticketing), access prepared
#              (gate-acl, over Kafka), ticket active (ticketing, over Kafka) — with p50/p99 from placing the
#              order to its ticket active (workloads/ticketing/examples/load.rs),
#   scans      gate scans per second (POST /v1/scans of prepared tickets, a new nonce each) with p50/p99,
# each at its peak (closed loop: CLIENTS clients, as many as pgbench's, each waiting for its answer), then saga
# and scans again open loop at half their peak rate, for their latency there. Targets: saga >= 50% of pgbench's
# TPS; scans >= the one-row INSERT TPS; scan p99 <= 5 ms at half the peak rate. Prints the figures and ratios.
# Everything shares the machine's cores: the server, the broker, both services and the load generator.
# Settings: CLIENTS (default 32), DURATION (seconds per measurement, default 15), SCALE (pgbench scale,
# default 10), AREAS (areas of the saga's event, orders taking turns among them; default SCALE: as many as
# pgbench's branches, each the row every transaction of it updates), PG_PORT (default 25432), KAFKA_PORT (default 29092; +1..+3 are used too), HTTP_PORT (default
# 28080: ticketing, +1 gate-acl, +2 auth), RELAY_MS (the services' OUTBOX_RELAY_INTERVAL_MS, default 10), POOL (each
# service's DATABASE_POOL_SIZE, default 32), PARTITIONS (the saga topics' partitions, and each consumer's
# members: KAFKA_TOPIC_PARTITIONS and KAFKA_CONSUMER_INSTANCES, default 2: consumers apply what they received
# in one transaction, so more members mostly add the broker's per-member work), SCAN_BATCH_MAX (default 128), SCAN_BATCH_WORKERS (default 2),
# BENCH_DIR (default /tmp/microfleet-bench: the servers' folders and the services' logs, deleted at the end
# unless KEEP=1), ONLY=saga (measure pgbench TPC-B and the saga only: a quicker run while working on the saga) or
# ONLY=scans (measure only the one-row INSERTs and the scans, skipping TPC-B and the saga),
# STATEMENTS=1 (load pg_stat_statements and print the statements run per paid order at the saga's peak),
# BIN_DIR (run the release binaries in this folder — the services' and examples/load — instead of building them:
# to alternate runs of two builds),
# WARMUP (seconds of saga run before its peak, neither measured nor counted, default 45: the freshly started broker's JIT
# compiler otherwise spends about as much CPU during the peak as its request handlers — still a third after 10 s of
# warm-up —, which no long-running broker does).
# After the saga's peak it prints where an order's cost went: CPU ms per order of each process (PostgreSQL's
# server with all its backends, the broker, each service, the load generator) and committed transactions per
# order in each database — against pgbench's one transaction per TPC-B — and the Kafka requests per order the
# broker served, by type (its RequestsPerSec counters, read over JMX: the broker's JMX agent is started on
# KAFKA_PORT+5 with jcmd, and read with Kafka's JmxTool from scripts/kafka.sh tools).
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${CLIENTS:-32}"
duration="${DURATION:-15}"
scale="${SCALE:-10}"
areas="${AREAS:-$scale}"
pg_port="${PG_PORT:-25432}"
kafka_port="${KAFKA_PORT:-29092}"
http_port="${HTTP_PORT:-28080}"
relay_ms="${RELAY_MS:-10}"
pool="${POOL:-32}"
partitions="${PARTITIONS:-2}"
dir="${BENCH_DIR:-/tmp/microfleet-bench}"
only="${ONLY:-}"
warmup="${WARMUP:-45}"
case "$only" in "" | saga | scans) ;; *) echo "ONLY must be saga, scans or unset, not $only" >&2; exit 1 ;; esac
bin="${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}"
pg_bin=/usr/lib/postgresql/15/bin
export MICROFLEET_PG_PORT="$pg_port" MICROFLEET_PG_DIR="$dir/postgres"
export MICROFLEET_KAFKA_PORT="$kafka_port" MICROFLEET_KAFKA_DIR="$dir/kafka"
pids=()
# shellcheck source=scripts/auth-lib.sh
. scripts/auth-lib.sh
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/kafka.sh down >/dev/null 2>&1 || true
  scripts/postgres.sh down >/dev/null 2>&1 || true
  if [ "${KEEP:-}" = 1 ]; then echo "logs kept in $dir"; else rm -rf "$dir"; fi
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
jmx_port=$((kafka_port + 5))
for port in "$pg_port" "$kafka_port" $((kafka_port + 1)) $((kafka_port + 2)) $((kafka_port + 3)) "$jmx_port" "$http_port" $((http_port + 1)) $((http_port + 2)); do
  if port_taken "$port"; then
    echo "port $port on 127.0.0.1 is taken: stop what listens there, or set PG_PORT, KAFKA_PORT, HTTP_PORT" >&2
    exit 1
  fi
done
trap cleanup EXIT
mkdir -p "$dir"

if [ -z "${BIN_DIR:-}" ]; then
  echo "building (release)" >&2
  cargo build --release --locked -q -p microfleet-auth -p microfleet-ticketing -p microfleet-gate-acl --bins --example load
fi

echo "starting PostgreSQL and Kafka" >&2
eval "$(scripts/postgres.sh up)"
eval "$(scripts/kafka.sh up)"
kafka_tools="$(scripts/kafka.sh tools)"
jcmd "$(cat "$MICROFLEET_KAFKA_DIR/kafka.pid")" ManagementAgent.start jmxremote.port="$jmx_port" jmxremote.rmi.port="$jmx_port" \
  jmxremote.authenticate=false jmxremote.ssl=false jmxremote.host=127.0.0.1 >/dev/null
server="${MICROFLEET_PG_URL%/postgres}"
export PGPASSWORD=microfleet
# psql_do DATABASE SQL
psql_do() { "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U microfleet -d "$1" -v ON_ERROR_STOP=1 -c "$2" >/dev/null; }
# psql_value DATABASE SQL: the one value the query answers
psql_value() { "$pg_bin/psql" -qAt -h 127.0.0.1 -p "$pg_port" -U microfleet -d "$1" -v ON_ERROR_STOP=1 -c "$2"; }
# autovacuum's and checkpoints' work in the server's log, to set beside the scans' slow moments
psql_do postgres "ALTER SYSTEM SET log_autovacuum_min_duration = 0"
psql_do postgres "ALTER SYSTEM SET log_checkpoints = on"
psql_do postgres "SELECT pg_reload_conf()"
if [ "${STATEMENTS:-}" = 1 ]; then
  psql_do postgres "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  scripts/postgres.sh kill >/dev/null 2>&1 && scripts/postgres.sh start >/dev/null
  psql_do postgres "CREATE EXTENSION pg_stat_statements"
fi
for db in auth ticketing gate pgbench; do psql_do postgres "CREATE DATABASE $db"; done

# the auth service on HTTP_PORT+2; its admin creates the API keys: one per service (auth:introspect), the load
# generator's (the back office's scopes) and the gate devices' (gate:scan)
secrets="$dir/secrets"
auth_start "$bin" "$secrets" "$server/auth" $((http_port + 2)) "$dir/auth.log" || { KEEP=1; exit 1; }
pids+=("$auth_pid")
admin_token="$(auth_login admin "$secrets/admin-password")"
for service in ticketing-service gate-acl-service; do
  auth_api_key "$admin_token" "$service" "$secrets/$service.key" auth:introspect >/dev/null
done
auth_api_key "$admin_token" load-generator "$secrets/load.key" ticketing:read ticketing:catalog ticketing:approve \
  ticketing:orders gate:read gate:admin >/dev/null
auth_api_key "$admin_token" gate-devices "$secrets/gate.key" gate:scan >/dev/null

# the services: ticketing on HTTP_PORT, gate-acl on HTTP_PORT+1; warnings only in their logs
service_env=(AUTH_URL="$auth_url" KAFKA_BOOTSTRAP_SERVERS="$MICROFLEET_KAFKA_BOOTSTRAP" KAFKA_TOPIC_PREFIX=bench
  OUTBOX_RELAY_INTERVAL_MS="$relay_ms" DATABASE_POOL_SIZE="$pool" KAFKA_TOPIC_PARTITIONS="$partitions"
  KAFKA_CONSUMER_INSTANCES="$partitions" LOG_FORMAT=json RUST_LOG=warn)
env "${service_env[@]}" DATABASE_URL="$server/ticketing" "$bin/ticketing-service" migrate >/dev/null
env "${service_env[@]}" DATABASE_URL="$server/gate" "$bin/gate-acl-service" migrate >/dev/null
env "${service_env[@]}" DATABASE_URL="$server/ticketing" LISTEN_ADDR="127.0.0.1:$http_port" \
  AUTH_SERVICE_KEY_FILE="$secrets/ticketing-service.key" "$bin/ticketing-service" serve >"$dir/ticketing.log" 2>&1 &
ticketing_pid=$!
pids+=($!)
env "${service_env[@]}" DATABASE_URL="$server/gate" LISTEN_ADDR="127.0.0.1:$((http_port + 1))" \
  AUTH_SERVICE_KEY_FILE="$secrets/gate-acl-service.key" SIGNING_KEY="$(head -c 32 /dev/urandom | base64)" \
  SCAN_BATCH_MAX="${SCAN_BATCH_MAX:-128}" SCAN_BATCH_WORKERS="${SCAN_BATCH_WORKERS:-2}" \
  "$bin/gate-acl-service" serve >"$dir/gate-acl.log" 2>&1 &
gate_pid=$!
pids+=($!)
for port in "$http_port" $((http_port + 1)) $((http_port + 2)); do
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "the service on port $port is not ready; logs in $dir" >&2; KEEP=1; exit 1; }
done

# field NAME LINE: the value of NAME=... in a load generator's line
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
load() {
  LOAD_API_KEY="$(cat "$secrets/load.key")" GATE_DEVICE_KEY="$(cat "$secrets/gate.key")" TICKETING_DATABASE_URL="$server/ticketing" \
    /usr/bin/time -f '%U %S' -o "$dir/load.cpu" "$bin/examples/load" "$@" --ticketing "http://127.0.0.1:$http_port" --gate "http://127.0.0.1:$((http_port + 1))" \
    --clients "$clients" --seconds "${load_seconds:-$duration}" --areas "$areas"
}
# cpu_ticks: "NAME TICKS" per process of the saga (user + system clock ticks so far; PostgreSQL: the postmaster
# and every live backend — not the reaped ones, such as pgbench's)
cpu_ticks() {
  local postmaster
  postmaster="$(head -n 1 "$MICROFLEET_PG_DIR/data/postmaster.pid")"
  ticks() { awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null || echo 0; }
  echo "postgres $(ticks "/proc/$postmaster/stat" $(pgrep -P "$postmaster" | sed 's|.*|/proc/&/stat|'))"
  echo "kafka $(ticks "/proc/$(cat "$MICROFLEET_KAFKA_DIR/kafka.pid")/stat")"
  echo "ticketing $(ticks "/proc/$ticketing_pid/stat")"
  echo "gate-acl $(ticks "/proc/$gate_pid/stat")"
  echo "auth $(ticks "/proc/$auth_pid/stat")"
}
# commits: "DATABASE COMMITS" per database of the saga (pg_stat_database)
commits() {
  psql_value postgres "SELECT pg_stat_clear_snapshot()" >/dev/null
  psql_value postgres "SELECT datname || ' ' || xact_commit FROM pg_stat_database WHERE datname IN ('ticketing', 'gate', 'auth') ORDER BY 1" | tr '|' ' '
}
# scan_metrics: gate-acl's cumulative histogram buckets of the scans, "NAME LE COUNT" per line: the HTTP request's
# latency (auth and JSON included), the scan handler's (verification, queue and batch), the queue's wait for a
# batch worker, the batch transaction's duration and the batch size
scan_metrics() {
  curl -sf "http://127.0.0.1:$((http_port + 1))/metrics" |
    sed -n -e 's/^gate_http_request_duration_seconds_bucket{.*le="\([^"]*\)",.*route="\/v1\/scans"} \([0-9]*\)$/http \1 \2/p' \
      -e 's/^gate_http_request_duration_seconds_bucket{.*route="\/v1\/scans".*le="\([^"]*\)"} \([0-9]*\)$/http \1 \2/p' \
      -e 's/^gate_scan_duration_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/handler \1 \2/p' \
      -e 's/^gate_scan_queue_wait_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/queue-wait \1 \2/p' \
      -e 's/^gate_scan_batch_duration_seconds_bucket{le="\([^"]*\)"} \([0-9]*\)$/batch \1 \2/p' \
      -e 's/^gate_scan_batch_size_bucket{le="\([^"]*\)"} \([0-9]*\)$/batch-size \1 \2/p'
}
# cpu_per_operation TITLE NOUN COUNT TICKS_BEFORE TICKS_AFTER LOAD_CPU_FILE: CPU ms per operation of each process
# (from cpu_ticks before and after the run, and the load generator's user and system seconds), on one line
cpu_per_operation() {
  local load_user load_system
  read -r load_user load_system <"$6"
  { echo "$4" | sed 's/^/before /'; echo "$5" | sed 's/^/after /'; } | awk -v title="$1" -v noun="$2" -v n="$3" \
    -v tck="$(getconf CLK_TCK)" -v load="$(awk -v u="$load_user" -v s="$load_system" 'BEGIN { print u + s }')" '
    $1 == "before" { before[$2] = $3 } $1 == "after" { order[++k] = $2; after[$2] = $3 }
    END { line = title; for (i = 1; i <= k; i++) { p = order[i]; ms = (after[p] - before[p]) * 1000 / tck / n; total += ms
            line = line sprintf(" %s %.3f,", p, ms) }
          total += load * 1000 / n; printf "%s load %.3f; total %.3f (%d %s)\n", line, load * 1000 / n, total, n, noun }'
}
# checkpoints: PostgreSQL's checkpoints so far (timed and requested)
checkpoints() { psql_value postgres "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"; }
# kafka_requests: "TYPE COUNT" per request type the broker served so far (all versions summed)
kafka_requests() {
  java -cp "$kafka_tools/*" org.apache.kafka.tools.JmxTool --one-time true --attributes Count \
    --jmx-url "service:jmx:rmi:///jndi/rmi://127.0.0.1:$jmx_port/jmxrmi" \
    --object-name 'kafka.network:type=RequestMetrics,name=RequestsPerSec,*' 2>/dev/null | python3 -c '
import collections, csv, re, sys
rows = [row for row in csv.reader(sys.stdin) if row and (row[0] == "time" or row[0].isdigit())]
counts = collections.Counter()
for name, value in zip(rows[0][1:], rows[-1][1:]):
    counts[re.search(r"request=([^,]+)", name).group(1)] += int(value)
for name, value in sorted(counts.items()):
    print(name, value)'
}
pgbench_tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$1"; }
pgbench_latency() { sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$1"; }

load_average_before="$(cut -d ' ' -f 1-3 /proc/loadavg)"
echo "pgbench: initialising scale $scale" >&2
"$pg_bin/pgbench" -q -i -s "$scale" -h 127.0.0.1 -p "$pg_port" -U microfleet pgbench >/dev/null 2>&1
psql_do pgbench "CREATE TABLE one_row (id BIGSERIAL PRIMARY KEY, value INTEGER NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())"
printf '\\set value random(1, 1000000)\nINSERT INTO one_row (value) VALUES (:value);\n' >"$dir/one-row.sql"
pgbench_run() { "$pg_bin/pgbench" -h 127.0.0.1 -p "$pg_port" -U microfleet -c "$clients" -j "$(nproc)" -T "$duration" "$@" 2>/dev/null; }
run_saga="" run_scans=""
[ "$only" = scans ] || run_saga=1
[ "$only" = saga ] || run_scans=1
tpcb="" insert="" saga="" saga_half="" scans="" scans_half=""
if [ -n "$run_saga" ]; then
  echo "measuring: pgbench TPC-B, $clients clients, ${duration} s, scale $scale, default (simple) query protocol" >&2
  tpcb="$(pgbench_run pgbench)"
fi
if [ -n "$run_scans" ]; then
  echo "measuring: pgbench one-row INSERTs" >&2
  insert="$(pgbench_run -n -f "$dir/one-row.sql" pgbench)"
fi
if [ -n "$run_saga" ]; then
  if [ "$warmup" -gt 0 ]; then
    echo "warming up: saga for $warmup s" >&2
    load_seconds="$warmup" load saga >/dev/null
  fi
  echo "measuring: saga at its peak ($clients clients)" >&2
  requests_before="$(kafka_requests)"
  ticks_before="$(cpu_ticks)" commits_before="$(commits)"
  [ "${STATEMENTS:-}" != 1 ] || psql_value postgres "SELECT pg_stat_statements_reset()" >/dev/null
  saga="$(load saga)"
  ticks_after="$(cpu_ticks)" commits_after="$(commits)"
  requests_after="$(kafka_requests)"
  cp "$dir/load.cpu" "$dir/load-saga.cpu"
  saga_orders="$(field all "$saga")"
  if [ "${STATEMENTS:-}" = 1 ]; then
    statements="$(psql_value postgres "SELECT to_char(s.calls::float8 / $saga_orders, 'FM9990.00') || ' ' ||
        to_char(s.total_exec_time * 1000 / $saga_orders, 'FM999990') || ' ' || d.datname || ' ' ||
        regexp_replace(left(s.query, 110), '\s+', ' ', 'g')
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname IN ('ticketing', 'gate', 'auth') ORDER BY s.calls DESC LIMIT 40")"
  fi
  saga_half_rate="$(awk -v r="$(field rate "$saga")" 'BEGIN { printf "%.1f", r / 2 }')"
  echo "measuring: saga open loop at $saga_half_rate orders/s" >&2
  saga_half="$(load saga --rate "$saga_half_rate")"
fi
if [ -n "$run_scans" ]; then
  echo "measuring: scans at their peak ($clients clients)" >&2
  scan_ticks_before="$(cpu_ticks)"
  scans="$(load scan)"
  scan_ticks_after="$(cpu_ticks)"
  cp "$dir/load.cpu" "$dir/load-scans.cpu"
  scan_half_rate="$(awk -v r="$(field rate "$scans")" 'BEGIN { printf "%.1f", r / 2 }')"
  echo "measuring: scans open loop at $scan_half_rate scans/s" >&2
  scan_metrics_before="$(scan_metrics)" checkpoints_before="$(checkpoints)"
  scans_half="$(load scan --rate "$scan_half_rate" --timeline "$dir/scans-half.timeline")"
  scan_metrics_after="$(scan_metrics)" checkpoints_after="$(checkpoints)"
  gate_tables="$(psql_value gate "SELECT relname || ': ' || seq_scan || ' sequential scans, ' || coalesce(idx_scan, 0) ||
      ' index scans, ' || n_tup_upd || ' updates (' || n_tup_hot_upd || ' HOT), ' || autovacuum_count || ' autovacuums, ' ||
      autoanalyze_count || ' autoanalyzes' FROM pg_stat_user_tables WHERE relname IN ('scans', 'access_entries') ORDER BY 1")"
fi
echo
echo "settings: $(nproc) cores; CLIENTS=$clients DURATION=${duration}s WARMUP=${warmup}s SCALE=$scale AREAS=$areas; pgbench -c $clients -j $(nproc) -T $duration" \
  "(TPC-B: its default script and protocol; insert: -n -f one-row.sql); services: DATABASE_POOL_SIZE=$pool" \
  "OUTBOX_RELAY_INTERVAL_MS=$relay_ms KAFKA_TOPIC_PARTITIONS=KAFKA_CONSUMER_INSTANCES=$partitions SCAN_BATCH_MAX=${SCAN_BATCH_MAX:-128} SCAN_BATCH_WORKERS=${SCAN_BATCH_WORKERS:-2};" \
  "PostgreSQL with fsync and synchronous_commit off (scripts/postgres.sh); load average before $load_average_before, after $(cut -d ' ' -f 1-3 /proc/loadavg)"
printf '%-22s %12s %9s %9s %8s\n' what per-second "p50 ms" "p99 ms" errors
[ -z "$tpcb" ] ||
  printf '%-22s %12.1f %9s %9s %8s   (latency average %s ms)\n' "pgbench TPC-B" "$(pgbench_tps "$tpcb")" - - - "$(pgbench_latency "$tpcb")"
[ -z "$insert" ] ||
  printf '%-22s %12.1f %9s %9s %8s   (latency average %s ms)\n' "pgbench one-row INSERT" "$(pgbench_tps "$insert")" - - - "$(pgbench_latency "$insert")"
for row in "saga (peak)|$saga" "saga @ half peak|$saga_half" "scans (peak)|$scans" "scans @ half peak|$scans_half"; do
  line="${row#*|}"
  [ -n "$line" ] || continue
  printf '%-22s %12.1f %9.2f %9.2f %8d\n' "${row%%|*}" "$(field rate "$line")" "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$(field errors "$line")"
  first_error="$(field first_error "$line")"
  [ -z "$first_error" ] || echo "  first error: ${line#*first_error=}"
done
if [ -n "$run_scans" ]; then
  # where the scans' CPU went, at their peak (the whole load run: warm-up and the tickets' preparation included)
  cpu_per_operation "scans CPU ms per scan at the peak:" scans "$(field all "$scans")" "$scan_ticks_before" "$scan_ticks_after" \
    "$dir/load-scans.cpu"
fi
if [ -n "${scan_metrics_after:-}" ]; then
  # the half-peak run's latency as gate-acl saw it (warm-up included), against the load generator's
  { echo "$scan_metrics_before" | sed 's/^/before /'; echo "$scan_metrics_after" | sed 's/^/after /'; } | awk '
    $1 == "before" { before[$2 " " $3] = $4 } $1 == "after" { key = $2 " " $3; if (!(key in seen)) { seen[key] = 1; keys[++k] = key }; after[key] = $4 }
    END { for (i = 1; i <= k; i++) { split(keys[i], part, " "); n = after[keys[i]] - before[keys[i]]
            if (part[2] == "+Inf") total[part[1]] = n
            else le[part[1]] = le[part[1]] sprintf(part[1] == "batch-size" ? " <=%g:%s" : " <=%gms:%s", part[1] == "batch-size" ? part[2] : part[2] * 1000, n) }
          for (name in total) if (total[name] > 0) printf "scans @ half peak, %s at gate-acl (cumulative of %d):%s\n", name, total[name], le[name] }'
  echo "scans @ half peak, PostgreSQL: $((checkpoints_after - checkpoints_before)) checkpoints during the run; gate's tables after it:" \
    "$(echo "$gate_tables" | paste -sd ';' | sed 's/;/; /g')"
  echo "scans @ half peak, $(sed -n 's/^# //p' "$dir/scans-half.timeline"); autovacuum of gate's tables and checkpoints (the whole benchmark):"
  awk '/automatic (vacuum|analyze) of table "gate\./ { at = $2; what = $6 " " $9; next }
    /checkpoint complete/ { print "  " $2 " checkpoint " $0; next }
    what != "" && /system usage/ { sub(/.*CPU: /, ""); print "  " at " " what " " $0; what = "" }' "$MICROFLEET_PG_DIR/postgres.log" | cut -c 1-160
  awk '/^#/ { next } { n++; if ($3 > 1) late++; if ($2 > 5) { slow++; if ($3 > 1) slow_late++; s = int($1 / 1000); per[s]++ } } END {
    line = sprintf("scans @ half peak, load generator: %d of %d sent over 1 ms late; %d over 5 ms (%d of them sent over 1 ms late); per second of the run:", late, n, slow, slow_late)
    for (s = 0; s in per || s < 20; s++) if (s in per) line = line sprintf(" %ds:%d", s, per[s]); print line }' "$dir/scans-half.timeline"
fi
if [ -n "$run_saga" ]; then
  # where the saga's orders went, at its peak (the whole load run, warm-up included: $saga_orders orders)
  cpu_per_operation "saga CPU ms per order:" orders "$saga_orders" "$ticks_before" "$ticks_after" "$dir/load-saga.cpu"
  { echo "$commits_before" | sed 's/^/before /'; echo "$commits_after" | sed 's/^/after /'; } | awk -v n="$saga_orders" '
    $1 == "before" { before[$2] = $3 } $1 == "after" { order[++k] = $2; after[$2] = $3 }
    END { line = "saga transactions per order (committed, pgbench TPC-B: 1):"; for (i = 1; i <= k; i++) { p = order[i]
            t = (after[p] - before[p]) / n; total += t; line = line sprintf(" %s %.2f,", p, t) } printf "%s total %.2f\n", line, total }'
  { echo "$requests_before" | sed 's/^/before /'; echo "$requests_after" | sed 's/^/after /'; } | awk -v n="$saga_orders" '
    $1 == "before" { before[$2] = $3 } $1 == "after" { order[++k] = $2; after[$2] = $3 }
    END { line = "saga Kafka requests per order (the broker'"'"'s):"; for (i = 1; i <= k; i++) { p = order[i]; t = (after[p] - before[p]) / n
            if (t >= 0.005) line = line sprintf(" %s %.2f,", p, t); if (p != "FetchConsumer") total += t } printf "%s total %.2f\n", line, total }'
  if [ -n "${statements:-}" ]; then
    echo "saga statements per order (calls, execution µs, database, statement):"
    echo "$statements" | sed 's/^/  /'
  fi
fi
awk -v saga="$(field rate "$saga")" -v tpcb="$(pgbench_tps "$tpcb")" -v scans="$(field rate "$scans")" \
  -v insert="$(pgbench_tps "$insert")" -v p99="$(field p99_ms "$scans_half")" -v saga_p99="$(field p99_ms "$saga_half")" \
  -v run_saga="$run_saga" -v run_scans="$run_scans" 'BEGIN {
  if (run_saga) printf "targets: saga at %.0f%% of pgbench TPC-B (>= 50%%: %s); saga p99 at half peak %.2f ms\n",
    100 * saga / tpcb, (saga / tpcb >= 0.5 ? "met" : "MISSED"), saga_p99
  if (run_scans) printf "targets: scans at %.0f%% of one-row INSERTs (>= 100%%: %s); scan p99 at half peak %.2f ms (<= 5: %s)\n",
    100 * scans / insert, (scans >= insert ? "met" : "MISSED"), p99, (p99 <= 5 ? "met" : "MISSED") }'
