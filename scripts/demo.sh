#!/usr/bin/env bash
# The main job, on an embedded default, all on 127.0.0.1:
#   1. what the operator creates for the example ClusterFetch (render, no cluster needed);
#   2. a realistic run: 1M promo-eligible users from the sample clustering service to the sample promotion
#      platform, with live progress, then the run summary and the status the operator would record;
#   3. a failing run (the clustering service answers 503), and the notification that is sent for it.
# Settings: USERS (default 1000000), PORT_BASE (default 18080: uses PORT_BASE..+2 and +10..+12).
# `scripts/demo.sh cluster` tells the same story with the operator itself at work on a real control plane
# (scripts/cluster-demo.sh). `scripts/demo.sh ticketing` tells one concert's story on the ticketing services
# (scripts/ticketing-demo.sh), with the back office (ticketing-cms) running alongside: its address is printed.
# `scripts/demo.sh ticketing-cluster` runs the example TicketingService on the local control plane with the pod
# network, the operator installed by Helm, and one order through the saga (scripts/ticketing-cluster-demo.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
if [ "${1:-}" = cluster ]; then
  exec scripts/cluster-demo.sh
fi
if [ "${1:-}" = ticketing ]; then
  exec scripts/ticketing-demo.sh
fi
if [ "${1:-}" = ticketing-cluster ]; then
  exec scripts/ticketing-cluster-demo.sh
fi
users="${USERS:-1000000}"
base="${PORT_BASE:-18080}"
bin=target/release
work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$base" $((base + 1)) $((base + 2)) $((base + 10)) $((base + 11)) $((base + 12)); do
  if port_taken "$port"; then
    echo "port $port on 127.0.0.1 is taken (the demo uses PORT_BASE..+2 and +10..+12): stop what listens there, or set PORT_BASE" >&2
    exit 1
  fi
done

say "building (release; the first build takes several minutes, cargo shows its progress)"
cargo build --release --locked -p microfleet-operator -p microfleet-fetcher -p microfleet-demo

say "1. what the operator creates for examples/promo-eligible-users.yaml"
"$bin/microfleet-operator" render -f examples/promo-eligible-users.yaml

say "2. a realistic run: $users users, clustering service -> promotion platform"
"$bin/microfleet-demo" --users "$users" --clustering-port "$base" --promotion-port $((base + 1)) --webhook-port $((base + 2)) > "$work/demo.log" &
pids+=($!)
wait_port "$base"; wait_port $((base + 1)); wait_port $((base + 2))
cat "$work/demo.log"
manifest="$work/cf.yaml"
sed -e "s/127.0.0.1:18080/127.0.0.1:$base/; s/127.0.0.1:18081/127.0.0.1:$((base + 1))/" examples/promo-eligible-users-local.yaml > "$manifest"
rc=0
MICROFLEET_RUN_ID=promo-eligible-users-29381220 "$bin/microfleet-fetcher" run --spec "$manifest" --termination-log "$work/ok.json" --progress-seconds 2 || rc=$?
echo
echo "exit code: $rc   run summary (the pod's termination message):"
python3 -m json.tool "$work/ok.json"
echo "the promotion platform now serves:"
curl -s "http://127.0.0.1:$((base + 1))/v1/eligible-users/current"; echo
"$bin/microfleet-operator" preview-run -f "$manifest" --termination-message "$work/ok.json" --exit-code "$rc"

say "3. a failing run: the clustering service answers 503 to every page"
"$bin/microfleet-demo" --users 1000 --fail-status 503 --clustering-port $((base + 10)) --promotion-port $((base + 11)) --webhook-port $((base + 12)) > /dev/null &
pids+=($!)
wait_port $((base + 10))
sed -i "s/127.0.0.1:$base/127.0.0.1:$((base + 10))/" "$manifest"
rc=0
MICROFLEET_RUN_ID=promo-eligible-users-29382660 "$bin/microfleet-fetcher" run --spec "$manifest" --termination-log "$work/failed.json" || rc=$?
echo "exit code: $rc   run summary:"
python3 -m json.tool "$work/failed.json"
"$bin/microfleet-operator" preview-run -f "$manifest" --termination-message "$work/failed.json" --exit-code "$rc" --notification-out "$work/notification.json"
echo
echo "the notifier Job runs 'microfleet-fetcher notify' with the webhook URL from the Secret; here, the sample webhook:"
MICROFLEET_NOTIFICATION="$(cat "$work/notification.json")" MICROFLEET_NOTIFY_FORMAT=slack \
  MICROFLEET_NOTIFY_WEBHOOK_URL="http://127.0.0.1:$((base + 2))/hooks/T0000/B0000/demo-token" \
  "$bin/microfleet-fetcher" notify
echo "the chat channel received:"
curl -s "http://127.0.0.1:$((base + 2))/received" | python3 -m json.tool
