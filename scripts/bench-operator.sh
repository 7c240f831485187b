#!/usr/bin/env bash
# Benchmark (not a test) of the operator at N ClusterFetches, on a real control plane of its own
# (scripts/cluster.sh: etcd, kube-apiserver, kube-controller-manager, kube-scheduler on 127.0.0.1). For each
# N (SIZES) in one run:
#   baseline   a plain client (operator/examples/bench_load.rs, BASE_CONCURRENCY requests in flight) makes
#              the writes the operator really needs, in a namespace of its own: server-side apply of N
#              CronJobs as the operator builds them, and N status applies; the time the API server takes
#              for them is the yardstick
#   operator   N ClusterFetches are created (schedules that do not fire during the run: no Jobs), then the
#              release operator starts (--no-leader-election, --watch-namespace, OPERATOR_CONCURRENCY);
#              measured: time from its start to all N Ready (its /metrics, scraped every 2 s while
#              waiting and every SCRAPE_SECONDS throughout), peak RSS (/proc/<pid>/status VmHWM), its
#              writes by verb and resource (the API server's audit log, by the operator's User-Agent),
#              the size of one /metrics scrape
#   idle       IDLE_SECONDS with nothing changing: its writes and its reconciles (microfleet_reconciles_total)
#   stop       SIGTERM: the seconds until the process is gone (the run fails if it has not exited in 60 s)
# and at the largest N, leader failover: two operators with leader election; the first leads and passes
# over everything (a restart: its writes are counted too), the leader is stopped (SIGTERM: it releases the
# Lease), and the new leader's writes in its first full pass are counted (Lease renewals aside).
# Prints a table and the ratios against the targets of issue 15: ready time <= 2x the baseline, peak RSS
# <= 64 MB (40 MB stretch) and growing slowly with N, writes per ClusterFetch = those that change something
# (a CronJob and a status), idle and failover: 0 writes, /metrics <= 2 MB.
#
# Settings (environment): SIZES ("1000 5000 10000"), IDLE_SECONDS (120), SCRAPE_SECONDS (15),
# OPERATOR_CONCURRENCY (4), BASE_CONCURRENCY (4: the operator's, so the ratio is the operator's overhead),
# ADMIN_PORT (57300; the failover uses the next two), BENCH_APISERVER_PORT (26443), BENCH_ETCD_PORT (22379,
# and the next one), BENCH_CLUSTER_DIR (/tmp/microfleet-bench-cluster), KEEP_CLUSTER (1: leave the control
# plane running). Takes 15–35 min with the defaults on 2 cores, by the load of the machine (10,000: ~20 min
# alone); SIZES="1000 5000" IDLE_SECONDS=60 takes ~12 min. Needs jq and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-1000 5000 10000}"
idle="${IDLE_SECONDS:-120}"
scrape_every="${SCRAPE_SECONDS:-15}"
op_concurrency="${OPERATOR_CONCURRENCY:-4}"
base_concurrency="${BASE_CONCURRENCY:-4}"
port="${ADMIN_PORT:-57300}"
export MICROFLEET_APISERVER_PORT="${BENCH_APISERVER_PORT:-26443}"
export MICROFLEET_ETCD_PORT="${BENCH_ETCD_PORT:-22379}"
export MICROFLEET_CLUSTER_DIR="${BENCH_CLUSTER_DIR:-/tmp/microfleet-bench-cluster}"
target="${CARGO_TARGET_DIR:-target}/release"
work="$(mktemp -d)"
pids=()

log() { printf 'bench: %s\n' "$*" >&2; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ "${KEEP_CLUSTER:-}" = 1 ] || scripts/cluster.sh down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

log "building the operator and the load (release)"
cargo build --release --locked -q -p microfleet-operator --bin microfleet-operator --example bench_load
operator="$target/microfleet-operator"
load="$target/examples/bench_load"
eval "$(scripts/cluster.sh up)"
audit="$MICROFLEET_CLUSTER_DIR/audit.log"
kubectl apply --server-side -f crds/clusterfetches.microfleet.io.yaml >/dev/null
kubectl wait --for condition=established --timeout 60s crd/clusterfetches.microfleet.io >/dev/null

metrics() { curl -sf "http://127.0.0.1:$1/metrics" || true; }
ready_count() { metrics "$1" | grep -c '^microfleet_clusterfetch_ready{.*} 1$' || true; }
reconciles() { metrics "$1" | awk '/^microfleet_reconciles_total/ { print $2 }'; }
is_leader() { [ "$(metrics "$1" | awk '/^microfleet_leader / { print $2 }')" = 1 ]; }
kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
# stop PID: SIGTERM, then the seconds until the process is gone (it is not this shell's child: polled);
# fails after 60 s, naming the hang
stop() {
  local started=$EPOCHREALTIME
  kill -TERM "$1"
  for _ in $(seq 600); do
    kill -0 "$1" 2>/dev/null || { awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; return; }
    sleep 0.1
  done
  log "the operator (pid $1) did not exit within 60 s of SIGTERM"
  exit 1
}

# audit_mark NAMESPACE: writes a marker ConfigMap, waits until the (batched) audit log holds it; prints
# the log's line count then: every earlier write is before that line
audit_mark() {
  local name="bench-mark-$RANDOM$RANDOM"
  kubectl -n "$1" create configmap "$name" >/dev/null
  for _ in $(seq 120); do
    if grep -q "\"name\":\"$name\"" "$audit"; then
      wc -l <"$audit"
      return
    fi
    sleep 0.5
  done
  log "the audit log never recorded $name"
  exit 1
}

# writes FROM TO AGENT: the writes (Lease renewals aside) in audit lines FROM+1..TO whose User-Agent
# contains AGENT, as "count verb resource" lines, and the total on the last line
writes() {
  sed -n "$(($1 + 1)),$2p" "$audit" |
    jq -r --arg agent "$3" 'select(.stage == "ResponseComplete" and ((.userAgent // "") | contains($agent)))
      | select(.objectRef.resource != "leases")
      | "\(.verb) \(.objectRef.resource)\(if .objectRef.subresource then "/" + .objectRef.subresource else "" end)"' |
    sort | uniq -c | awk '{ print; total += $1 } END { print total + 0 }'
}

# start_operator PORT IDENTITY NAMESPACE ARGS...: starts the release operator; prints its pid
start_operator() {
  local admin="$1" identity="$2" namespace="$3"
  shift 3
  POD_NAME="$identity" POD_NAMESPACE="$namespace" RUST_LOG=warn "$operator" run --log-format text \
    --admin-addr "127.0.0.1:$admin" --watch-namespace "$namespace" --concurrency "$op_concurrency" "$@" \
    >"$work/$identity.log" 2>&1 &
  echo $!
}

# scrape_loop PORT PID: scrapes /metrics every SCRAPE_SECONDS while PID lives
scrape_loop() {
  while kill -0 "$2" 2>/dev/null; do
    metrics "$1" >/dev/null
    sleep "$scrape_every"
  done
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 2 s
wait_until() {
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || { log "timed out waiting for $what"; exit 1; }
    sleep 2
  done
}

all_ready() { [ "$(ready_count "$1")" -ge "$2" ]; }
# reconciled PORT N: it has run at least N reconciles (a full pass)
reconciled() { local r; r="$(reconciles "$1")"; [ "${r:-0}" -ge "$2" ]; }
# quiet AGENT: the audit log recorded no write of AGENT (Lease renewals aside) for 10 s (its own writes' events cause reconciles,
# and the 300 s requeue keeps reconciling at 10,000; neither may write)
quiet() {
  local before
  before="$(agent_writes "$1")"
  sleep 10
  [ "$(agent_writes "$1")" = "$before" ]
}
# agent_writes AGENT: how many writes (Lease renewals aside) of AGENT the audit log holds
agent_writes() { grep -F "$1" "$audit" | grep -c -v '"resource":"leases"' || true; }

printf '%s\n' "N create_s baseline_s ready_s ready/baseline peak_rss_MB rss_ready_MB writes/CF idle_writes idle_reconciles metrics_bytes sigterm_to_exit_s" >"$work/table"
largest=""
for n in $sizes; do
  largest="$n"
  base_ns="bench-base-$n" ns="bench-$n"
  log "N=$n: baseline in $base_ns"
  "$load" create "$base_ns" "$n" "$base_concurrency" >/dev/null
  baseline_s="$("$load" baseline "$base_ns" "$n" "$base_concurrency")"
  log "N=$n: creating $n ClusterFetches in $ns"
  create_s="$("$load" create "$ns" "$n" "$base_concurrency")"
  from="$(audit_mark "$ns")"

  started=$EPOCHREALTIME
  pid="$(start_operator "$port" "bench-$n" "$ns" --no-leader-election)"
  pids+=("$pid")
  scrape_loop "$port" "$pid" &
  pids+=($!)
  wait_until 1800 "all $n Ready" all_ready "$port" "$n"
  ready_s="$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
  rss_ready="$(kb "$pid" VmRSS)"
  wait_until 600 "the operator to settle" quiet "(bench-$n)"
  to="$(audit_mark "$ns")"
  writes "$from" "$to" "(bench-$n)" >"$work/writes-$n"
  total="$(tail -1 "$work/writes-$n")"
  log "N=$n: Ready in ${ready_s}s; writes to Ready and settled:"
  head -n -1 "$work/writes-$n" >&2

  log "N=$n: idle for ${idle}s"
  r0="$(reconciles "$port")"
  sleep "$idle"
  r1="$(reconciles "$port")"
  to_idle="$(audit_mark "$ns")"
  idle_writes="$(writes "$to" "$to_idle" "(bench-$n)" | tail -1)"
  bytes="$(metrics "$port" | wc -c)"
  peak="$(kb "$pid" VmHWM)"
  stop_s="$(stop "$pid")"
  per_cf="$(awk -v w="$total" -v n="$n" 'BEGIN { printf "%.2f", w / n }')"
  ratio="$(awk -v r="$ready_s" -v b="$baseline_s" 'BEGIN { printf "%.2f", r / b }')"
  row="$n $create_s $baseline_s $ready_s $ratio $(mb "$peak") $(mb "$rss_ready") $per_cf $idle_writes $((r1 - r0)) $bytes $stop_s"
  log "N=$n: $row"
  printf '%s\n' "$row" >>"$work/table"
done

log "failover at N=$largest"
ns="bench-$largest"
from="$(audit_mark "$ns")"
a="$(start_operator "$((port + 1))" bench-a "$ns")"
pids+=("$a")
wait_until 120 "bench-a to lead" is_leader "$((port + 1))"
wait_until 1800 "bench-a's first pass" reconciled "$((port + 1))" "$largest"
wait_until 600 "bench-a to settle" quiet "(bench-a)"
b="$(start_operator "$((port + 2))" bench-b "$ns")"
pids+=("$b")
wait_until 120 "bench-b to stand by" curl -sf "http://127.0.0.1:$((port + 2))/readyz" -o /dev/null
restart_writes="$(writes "$from" "$(audit_mark "$ns")" "(bench-a)" | tail -1)"
from="$(audit_mark "$ns")"
stopped_at=$EPOCHREALTIME
a_stop_s="$(stop "$a")"
wait_until 120 "bench-b to lead" is_leader "$((port + 2))"
led_s="$(awk -v a="$stopped_at" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
wait_until 1800 "bench-b's first pass" reconciled "$((port + 2))" "$largest"
wait_until 600 "bench-b to settle" quiet "(bench-b)"
failover_reconciles="$(reconciles "$((port + 2))")"
writes "$from" "$(audit_mark "$ns")" "(bench-b)" >"$work/writes-failover"
failover_writes="$(tail -1 "$work/writes-failover")"

echo
echo "operator at N ClusterFetches (OPERATOR_CONCURRENCY=$op_concurrency, BASE_CONCURRENCY=$base_concurrency, idle ${idle}s, $(nproc) cores)"
column -t "$work/table"
echo
echo "leader failover at N=$largest: a restarted leader's first pass made $restart_writes writes;"
echo "  the leader exited ${a_stop_s} s after SIGTERM, the standby led ${led_s} s after it (Lease released, polled every 2 s);"
echo "  the new leader's first pass ($failover_reconciles reconciles) made $failover_writes writes (target 0)"
echo
echo "targets (issue 15):"
awk -v largest="$largest" 'NR > 1 {
  printf "  N=%-6s ready/baseline %5s (<= 2)   peak RSS %6s MB (<= 64, stretch 40)   writes/CF %s (2: CronJob + status)   idle writes %s (0)   /metrics %.2f MB (<= 2)   SIGTERM to exit %s s\n", $1, $5, $6, $8, $9, $11 / 1e6, $12
  if (NR == 2) { n0 = $1; r0 = $6 } else { n1 = $1; r1 = $6 }
}
END { if (n1) printf "  RSS growth: %.1f MB per 1000 ClusterFetches (from N=%s to N=%s)\n", (r1 - r0) / (n1 - n0) * 1000, n0, n1 }' "$work/table"
