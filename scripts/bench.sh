#!/usr/bin/env bash
# Benchmark (not a test): in one run on 127.0.0.1, for 1M and 10M users, compares
#   curl       downloading the same pages to /dev/null (the physical limit of fetching),
#   pipe       curl downloading them, piped into a second curl that streams the bytes on to the sample
#              platform, untouched,
#   relay      the same in one process with the fetcher's own HTTP client (workloads/fetcher/examples/
#              relay.rs): each page's body streamed straight into a POST,
#              (the two relays are the physical limit of fetching and delivering: no parsing, no checks;
#              "vs relay" is against the faster of them)
#   fetcher    microfleet-fetcher fetching, parsing, checking and delivering to the sample platform,
#   python     requests + json doing the same (the obvious alternative),
# and prints items/s, MB/s, peak RSS (/usr/bin/time -v) and the ratios. Targets: >= 50% of curl's rate,
# >= 10x Python, peak RSS <= 64 MB and flat from 1M to 10M.
# The sample service serves pages from memory (generated once, before measuring); the sample platform
# counts each batch's items by its lines as the body streams in. Both share the machine's cores with
# the tool measured.
# Settings: SIZES (default "1000000 10000000"), PAGE (page size, default 10000), PORT_BASE (default 18180),
# ROUNDS (rounds of curl, the relays and the fetcher taking turns, best of each taken; default 3; Python
# runs once).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes="${SIZES:-1000000 10000000}"
page="${PAGE:-10000}"
base="${PORT_BASE:-18180}"
rounds="${ROUNDS:-3}"
bin=target/release
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

[ -x /usr/bin/time ] || { echo "installing GNU time" >&2; apt-get install -y -q time >/dev/null; }
eval "$(scripts/tools.sh)"
python="$(dirname "$(command -v kubernetes-validate)")/python3"
"$python" -c "import requests" 2>/dev/null || "$(dirname "$python")/pip" install --quiet --disable-pip-version-check requests==2.32.3
cargo build --release --locked -q -p microfleet-fetcher -p microfleet-demo
cargo build --release --locked -q -p microfleet-fetcher --example relay

# services_cpu: CPU seconds the sample services (the newest demo process) have used so far
services_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/${pids[-1]}/stat"; }

# run_once LABEL CMD...: runs CMD once under /usr/bin/time -v and appends to $work/runs.LABEL its wall time
# in seconds (taken around the command, in microseconds), its peak RSS in KB, and the CPU seconds it took
# on the whole machine (the command's user + system time, plus the sample services' while it ran)
run_once() {
  local label="$1" out="$work/time.$1" c0 t0 t1 c1
  shift
  c0=$(services_cpu)
  t0=$EPOCHREALTIME
  /usr/bin/time -v "$@" > "$work/stdout" 2> "$out" || { echo "command failed: $*" >&2; tail -20 "$out" >&2; exit 1; }
  t1=$EPOCHREALTIME
  c1=$(services_cpu)
  awk -v a="$t0" -v b="$t1" -v c0="$c0" -v c1="$c1" '
    /Maximum resident set size/ { kb = $NF }
    /User time \(seconds\)|System time \(seconds\)/ { own += $NF }
    END { print b - a, kb, own + c1 - c0 }' "$out" >> "$work/runs.$label"
}

# best LABEL: the best wall time, the largest peak RSS and the least CPU seconds of LABEL's runs
best() { awk 'NR == 1 || $1 < s { s = $1 } $2 > kb { kb = $2 } NR == 1 || $3 < c { c = $3 } END { print s, kb, c }' "$work/runs.$1"; }

printf '%-8s %10s %9s %12s %9s %10s %7s %9s %9s %10s\n' tool users seconds items/s MB/s "peak RSS" "CPU s" "vs curl" "vs relay" "vs python"
declare -A rss
i=0
for n in $sizes; do
  port=$((base + i * 10)); i=$((i + 1))
  "$bin/microfleet-demo" --users "$n" --paging page --cache-pages --clustering-port "$port" --promotion-port $((port + 1)) --webhook-port $((port + 2)) > /dev/null &
  pids+=($!)
  wait_port "$port"; wait_port $((port + 1))
  pages=$(( (n + page - 1) / page + (n % page == 0 ? 1 : 0) ))
  src="http://127.0.0.1:$port/v1/users"
  sink="http://127.0.0.1:$((port + 1))/v1/eligible-users/imports"
  # warm-up: the service generates and caches every page, so no tool pays for generation
  bytes=$(curl -s "$src?page=[1-$pages]&limit=$page" | wc -c)

  cat > "$work/cf.yaml" <<YAML
apiVersion: microfleet.io/v1alpha1
kind: ClusterFetch
metadata: {name: bench, namespace: bench}
spec:
  schedule: "@daily"
  source:
    url: $src
    pagination: {type: page, pageSize: $page, maxPages: 1000000}
    itemPath: /users
  sink:
    http: {url: $sink, batchSize: 5000}
  checks: {requiredFields: [user_id]}
YAML
  rm -f "$work"/runs.*
  # rounds take turns, so that the machine's slow and fast spells fall on every tool alike
  for ((r = 1; r <= rounds; r++)); do
    run_once curl curl -s -o /dev/null "$src?page=[1-$pages]&limit=$page"
    # the platform reads the whole stream, then refuses it (pages one after another are not one array)
    run_once pipe bash -c "curl -s '$src?page=[1-$pages]&limit=$page' | curl -s -o /dev/null -T - -X POST -H 'content-type: application/json' '$sink/runs/pipe-$n/batches/0'"
    run_once relay "$bin/examples/relay" "$src" "$sink" "$pages" "$page" "relay-$n-$r"
    run_once fetcher env MICROFLEET_RUN_ID="bench-$n-$r" "$bin/microfleet-fetcher" run --spec "$work/cf.yaml" --progress-seconds 3600
  done
  run_once python "$python" scripts/bench/python_fetcher.py "$src" "$sink" "$page" 5000 "python-$n"
  read -r c_s c_kb c_cpu < <(best curl)
  read -r q_s q_kb q_cpu < <(best pipe)
  read -r r_s r_kb r_cpu < <(best relay)
  read -r f_s f_kb f_cpu < <(best fetcher)
  read -r p_s p_kb p_cpu < <(best python)
  # the faster relay, and the least CPU a relay needed
  read -r best_s best_cpu < <(awk -v a="$q_s" -v b="$r_s" -v ca="$q_cpu" -v cb="$r_cpu" 'BEGIN { print (a < b ? a : b), (ca < cb ? ca : cb) }')
  delivered=$(curl -s "http://127.0.0.1:$((port + 1))/v1/eligible-users/current" | "$python" -c "import json,sys; print(json.load(sys.stdin)['current']['items'])")
  [ "$delivered" = "$n" ] || { echo "the platform holds $delivered items, expected $n" >&2; exit 1; }
  rss[$n]=$f_kb
  for row in "curl $c_s $c_kb $c_cpu" "pipe $q_s $q_kb $q_cpu" "relay $r_s $r_kb $r_cpu" "fetcher $f_s $f_kb $f_cpu" "python $p_s $p_kb $p_cpu"; do
    set -- $row
    awk -v t="$1" -v n="$n" -v s="$2" -v kb="$3" -v cpu="$4" -v b="$bytes" -v cs="$c_s" -v rs="$best_s" -v ps="$p_s" 'BEGIN {
      printf "%-8s %10d %9.3f %12.0f %9.1f %7.1f MB %7.2f %8.2fx %8.2fx %9.2fx\n", t, n, s, n/s, b/s/1e6, kb/1024, cpu, cs/s, rs/s, ps/s }'
  done
  # what 50% of curl's rate leaves: twice curl's time on this machine's cores, for the source, the tool
  # and the platform together; a tool that moves the bytes on needs at least what a relay used
  awk -v n="$n" -v c="$c_s" -v cores="$(nproc)" -v r="$best_cpu" -v f="$f_cpu" 'BEGIN {
    printf "CPU budget @%d: at 50%% of curl a run ends within %.3f s: %.2f CPU-s on %d cores for source, tool and platform; a relay used %.2f (%s), the fetcher run %.2f\n",
      n, 2*c, 2*c*cores, cores, r, (r > 2*c*cores ? "over the budget before any parsing" : sprintf("leaving %.2f for parsing", 2*c*cores - r)), f }'
  awk -v n="$n" -v f="$f_s" -v c="$c_s" -v r="$best_s" -v p="$p_s" -v kb="$f_kb" 'BEGIN {
    printf "targets @%d: fetcher at %.0f%% of curl (>= 50%%: %s; the faster relay, which only moves the bytes, is at %.0f%%), %.0f%% of the relay, %.1fx python (>= 10x: %s), peak RSS %.1f MB (<= 64: %s)\n",
      n, 100*c/f, (c/f >= 0.5 ? "met" : "MISSED"), 100*c/r, 100*r/f, p/f, (p/f >= 10 ? "met" : "MISSED"), kb/1024, (kb/1024 <= 64 ? "met" : "MISSED") }'
  kill "${pids[-1]}" 2>/dev/null || true
done
set -- $sizes
if [ $# -ge 2 ]; then
  awk -v a="${rss[$1]}" -v b="${rss[${!#}]}" -v n1="$1" -v n2="${!#}" 'BEGIN {
    printf "peak RSS %d -> %d users: %.1f MB -> %.1f MB (x%.2f; flat within 25%%: %s)\n", n1, n2, a/1024, b/1024, b/a, (b/a <= 1.25 ? "met" : "MISSED") }'
fi
