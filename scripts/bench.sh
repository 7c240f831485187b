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
# ROUNDS (runs of curl, the relays and the fetcher, best taken; default 3; Python runs once).
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

# measure LABEL ROUNDS CMD...: runs CMD ROUNDS times under /usr/bin/time -v ("{round}" in CMD becomes the
# round's number); prints the best wall time in seconds (taken around the command, in microseconds), the
# largest peak RSS in KB, and the least CPU seconds a round took on the whole machine (the command's
# user + system time, plus the sample services' while it ran)
measure() {
  local out="$work/time.$1" rounds="$2" best="" kb=0 cpu=""
  shift 2
  for ((r = 1; r <= rounds; r++)); do
    local c0 t0 t1 c1
    c0=$(services_cpu)
    t0=$EPOCHREALTIME
    /usr/bin/time -v "${@//\{round\}/$r}" > "$work/stdout" 2> "$out" || { echo "command failed: $*" >&2; tail -20 "$out" >&2; exit 1; }
    t1=$EPOCHREALTIME
    c1=$(services_cpu)
    best=$(awk -v a="$t0" -v b="$t1" -v best="$best" 'BEGIN { w = b - a; print (best == "" || w < best) ? w : best }')
    kb=$(grep "Maximum resident set size" "$out" | awk -v kb="$kb" '{ print ($NF > kb) ? $NF : kb }')
    cpu=$(awk -v c0="$c0" -v c1="$c1" -v cpu="$cpu" '
      /User time \(seconds\)|System time \(seconds\)/ { own += $NF }
      END { c = own + c1 - c0; print (cpu == "" || c < cpu) ? c : cpu }' "$out")
  done
  echo "$best $kb $cpu"
}

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

  read -r c_s c_kb c_cpu < <(measure curl "$rounds" curl -s -o /dev/null "$src?page=[1-$pages]&limit=$page")
  # the platform reads the whole stream, then refuses it (pages one after another are not one array)
  read -r q_s q_kb q_cpu < <(measure pipe "$rounds" bash -c "curl -s '$src?page=[1-$pages]&limit=$page' | curl -s -o /dev/null -T - -X POST -H 'content-type: application/json' '$sink/runs/pipe-$n/batches/0'")
  read -r r_s r_kb r_cpu < <(measure relay "$rounds" "$bin/examples/relay" "$src" "$sink" "$pages" "$page" "relay-$n-{round}")
  # the faster relay, and the least CPU a relay needed
  read -r best_s best_cpu < <(awk -v a="$q_s" -v b="$r_s" -v ca="$q_cpu" -v cb="$r_cpu" 'BEGIN { print (a < b ? a : b), (ca < cb ? ca : cb) }')
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
  read -r f_s f_kb f_cpu < <(measure fetcher "$rounds" env MICROFLEET_RUN_ID="bench-$n-{round}" "$bin/microfleet-fetcher" run --spec "$work/cf.yaml" --progress-seconds 3600)
  read -r p_s p_kb p_cpu < <(measure python 1 "$python" scripts/bench/python_fetcher.py "$src" "$sink" "$page" 5000 "python-$n")
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
