#!/usr/bin/env bash
# One concert's story on the ticketing services (`scripts/demo.sh ticketing` runs this), all on 127.0.0.1 with
# the real HTTP calls: its own PostgreSQL and Kafka (scripts/postgres.sh, scripts/kafka.sh), auth-service,
# ticketing-service and gate-acl-service (release builds). The auth service starts first with a bootstrap admin,
# who logs in and creates API keys through its API: one for each service (auth:introspect) and one for the gate
# scanner (gate:scan); the admin's access token makes the back-office calls, the scanner's key the scans. A merchant's event with two areas (Festival and VIP) is approved; two orders
# hold seats; one is paid, and the saga over Kafka makes its ticket active; the ticket's signed QR code is
# scanned at a gate (allowed), scanned again (refused: already inside), refunded, and scanned again (refused:
# revoked, once gate-acl has revoked it over the saga's refund leg). The back office, ticketing-cms, runs
# alongside: its address is printed at the start and the end, and when the demo runs in a terminal the servers
# stay up until Enter is pressed, so the story can be looked at in the CMS. Then the servers stop; the logs stay.
# Settings: PORT_BASE (default 18280: ticketing, +1 gate-acl, +2 auth, +3 the CMS), PG_PORT (default 18432), KAFKA_PORT (default
# 18492; +1..+3 are used too), DEMO_DIR (default /tmp/microfleet-ticketing-demo: the servers' folders, the
# logs and, in secrets/, the admin's password and the API keys), REFUND_WAIT (seconds to wait for the refund to complete, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
base="${PORT_BASE:-18280}"
pg_port="${PG_PORT:-18432}"
kafka_port="${KAFKA_PORT:-18492}"
dir="${DEMO_DIR:-/tmp/microfleet-ticketing-demo}"
refund_wait="${REFUND_WAIT:-30}"
bin="${CARGO_TARGET_DIR:-target}/release"
ticketing="http://127.0.0.1:$base"
gate="http://127.0.0.1:$((base + 1))"
secrets="$dir/secrets"
# shellcheck source=scripts/auth-lib.sh
. scripts/auth-lib.sh
# shellcheck source=scripts/ticketing-lib.sh
. scripts/ticketing-lib.sh
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
export MICROFLEET_PG_PORT="$pg_port" MICROFLEET_PG_DIR="$dir/postgres"
export MICROFLEET_KAFKA_PORT="$kafka_port" MICROFLEET_KAFKA_DIR="$dir/kafka"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/kafka.sh down >/dev/null 2>&1 || true
  cp "$dir/postgres/postgres.log" "$dir/logs/postgres.log" 2>/dev/null || true
  scripts/postgres.sh down >/dev/null 2>&1 || true
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$base" $((base + 1)) $((base + 2)) $((base + 3)) "$pg_port" "$kafka_port" $((kafka_port + 1)) $((kafka_port + 2)) $((kafka_port + 3)); do
  if port_taken "$port"; then
    echo "port $port on 127.0.0.1 is taken: stop what listens there, or set PORT_BASE, PG_PORT, KAFKA_PORT" >&2
    exit 1
  fi
done
trap cleanup EXIT
rm -rf "$dir/logs" "$secrets"
mkdir -p "$dir/logs"

# call BASE METHOD PATH KEY [BODY]: prints the call (its body as $shown says when set), and keeps the answer's
# body in $answer
shown=""
call() {
  local url="$1$3" method="$2" key="$4" body="${5:-}"
  printf '\033[2m%s %s%s\033[0m\n' "$method" "$url" "${body:+ ${shown:-$body}}"
  if [ -n "$body" ]; then
    answer="$(curl -s -X "$method" "$url" -H "authorization: Bearer $key" -H 'content-type: application/json' --data "$body")"
  else
    answer="$(curl -s "$url" -H "authorization: Bearer $key")"
  fi
}
# get PATH: a field of $answer by its dotted path (areas.0.id); objects and lists as JSON
get() {
  python3 -c 'import json, sys
value = json.loads(sys.argv[2])
for key in filter(None, sys.argv[1].split(".")):
    value = value[int(key)] if key.isdigit() else value[key]
print(json.dumps(value) if isinstance(value, (dict, list)) else value)' "$1" "$answer"
}
# seats: each area of the event with its seats sold (held by pending and paid orders) and left
seats() {
  call "$ticketing" GET "/v1/events/$event_id" "$admin_key"
  python3 -c 'import json, sys
for area in json.loads(sys.argv[1])["areas"]:
    print("  {name:<9} capacity {capacity:>3}   sold {sold:>3}   left {available:>3}".format(**area))' "$answer"
}
# scan NONCE: the ticket's code scanned for entry at the gate by one device
scan() {
  local rest=",\"gateId\":$gate_id,\"direction\":\"entry\",\"deviceId\":\"north-1-scanner\",\"nonce\":\"$1\",\"scannedAt\":\"$(date -u +%FT%TZ)\"}"
  shown="{\"qr\":\"${qr:0:16}...\"$rest"
  call "$gate" POST /v1/scans "$gate_key" "{\"qr\":\"$qr\"$rest"
  shown=""
  printf '  -> \033[1m%s\033[0m, reason %s (pretix: %s)\n' "$(get result)" "$(get reason)" "$(get pretixReason)"
}
at() { date -u -d "$1" +%FT%TZ; }

say "building (release; the first build takes several minutes; the same build as scripts/bench-ticketing.sh's)"
cargo build --release --locked -p microfleet-auth -p microfleet-ticketing -p microfleet-gate-acl -p microfleet-cms --bins \
  --example load

say "PostgreSQL and Kafka on 127.0.0.1:$pg_port and :$kafka_port (Kafka takes a minute to start)"
eval "$(scripts/postgres.sh up)"
eval "$(scripts/kafka.sh up)"
server="${MICROFLEET_PG_URL%/postgres}"
for db in auth ticketing gate cms; do
  PGPASSWORD=microfleet /usr/lib/postgresql/15/bin/psql -q -h 127.0.0.1 -p "$pg_port" -U microfleet -d postgres \
    -c "CREATE DATABASE $db" >/dev/null
done

say "auth-service on :$((base + 2)) with a bootstrap admin; the admin logs in and creates the API keys"
auth_start "$bin" "$secrets" "$server/auth" $((base + 2)) "$dir/logs/auth.log"
pids+=("$auth_pid")
admin_key="$(auth_login admin "$secrets/admin-password")"
echo "  -> admin logged in: an access token (JWT, an hour) with every scope; to log in yourself while the demo runs:"
echo "     curl -s -X POST $auth_url/v1/login -H 'content-type: application/json' \\"
echo "       --data \"{\\\"username\\\": \\\"admin\\\", \\\"password\\\": \\\"\$(cat $secrets/admin-password)\\\"}\""
echo "  -> API key $(auth_api_key "$admin_key" north-1-scanner "$secrets/north-1-scanner.key" gate:scan) for the gate scanner (gate:scan)"
gate_key="$(cat "$secrets/north-1-scanner.key")"

say "ticketing-service on :$base, gate-acl-service on :$((base + 1)) and ticketing-cms on :$((base + 3)), each migrating its own database first"
: >"$dir/logs/migrate.log"
services_start "$bin" "$secrets" "$admin_key" "$server/ticketing" "$server/gate" "$MICROFLEET_KAFKA_BOOTSTRAP" demo \
  "$base" $((base + 1)) "$dir/logs"
cms_start "$bin" "$secrets" "$admin_key" "$server/cms" $((base + 3)) "$dir/logs"
echo "all ready; the back office: open $cms_url and sign in as admin with the password in $secrets/admin-password"

say "1. a merchant, and its concert with two areas; the doors opened a minute ago, sales end in five hours"
call "$ticketing" POST /v1/merchants "$admin_key" '{"name": "Promotor Jakarta"}'
merchant_id="$(get id)"
call "$ticketing" POST /v1/events "$admin_key" "{\"merchantId\": $merchant_id, \"name\": \"EXO EXPLORATION\",
  \"venue\": \"Istora Senayan\", \"startsAt\": \"$(at '-1 minute')\", \"endsAt\": \"$(at '+6 hours')\",
  \"saleStartsAt\": \"$(at '-7 days')\", \"saleEndsAt\": \"$(at '+5 hours')\",
  \"areas\": [{\"name\": \"Festival\", \"capacity\": 100, \"price\": 750000}, {\"name\": \"VIP\", \"capacity\": 10, \"price\": 2500000}]}"
event_id="$(get id)"
festival="$(get areas.0.id)"
vip="$(get areas.1.id)"
echo "  -> event $event_id, $(get approval); areas Festival ($festival) and VIP ($vip)"

say "2. the CMS approves it: ticketing tells gate-acl its areas over Kafka (event.approved)"
call "$ticketing" POST "/v1/events/$event_id/approve" "$admin_key" '{}'
echo "  -> $(get approval)"
for _ in $(seq 300); do
  call "$gate" GET "/v1/events/$event_id" "$admin_key" >/dev/null
  [ "$(get name 2>/dev/null)" = "EXO EXPLORATION" ] && break
  sleep 0.1
done
echo "  -> gate-acl knows event $event_id: $answer"
call "$gate" POST /v1/gates "$admin_key" "{\"eventId\": $event_id, \"name\": \"North 1\", \"areaIds\": [$vip]}"
gate_id="$(get id)"
echo "  -> gate $gate_id (North 1) admits VIP"

say "3. two orders hold seats: two Festival seats for Ayu, one VIP seat for Budi"
call "$ticketing" POST /v1/orders "$admin_key" "{\"eventId\": $event_id, \"paymentMethod\": \"BANK_TRANSFER\",
  \"customerEmail\": \"ayu@example.com\", \"items\": [{\"areaId\": $festival, \"quantity\": 2}]}"
echo "  -> order $(get number): $(get state), total $(get totalPrice), held until $(get expiresAt)"
call "$ticketing" POST /v1/orders "$admin_key" "{\"eventId\": $event_id, \"paymentMethod\": \"BANK_TRANSFER\",
  \"customerEmail\": \"budi@example.com\", \"items\": [{\"areaId\": $vip, \"quantity\": 1}]}"
order="$(get number)"
total="$(get totalPrice)"
echo "  -> order $order: $(get state), total $total"
seats

say "4. Budi pays: his ticket is issued, and the saga prepares its access at the gates"
started=$EPOCHREALTIME
call "$ticketing" POST "/v1/orders/$order/payment" "$admin_key" "{\"amount\": $total}"
ticket="$(get tickets.0.id)"
echo "  -> order $order: $(get state); ticket $ticket: $(get tickets.0.state)"
echo "  (seats are held from the order on: paying changes no count)"
seats
echo "waiting for the ticket to turn active (order.paid -> gate-acl prepares access -> access.prepared -> ticketing)"
for _ in $(seq 600); do
  call "$ticketing" GET "/v1/orders/$order" "$admin_key" >/dev/null
  [ "$(get tickets.0.state)" = active ] && break
  sleep 0.05
done
[ "$(get tickets.0.state)" = active ] || { echo "the ticket did not turn active within 30 s: see $dir/logs" >&2; exit 1; }
echo "  -> ticket $ticket: active, $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f ms", (b - a) * 1000 }') after the payment"

say "5. the ticket's QR code: signed by gate-acl (Ed25519), checked at the gate without a database read"
call "$gate" GET "/v1/access/$ticket" "$admin_key"
qr="$(get qr)"
echo "  -> valid $(get validFrom) .. $(get validUntil), area $(get areaId)"
echo "  QR payload: $qr"
echo "  (print it as a QR code with any encoder, e.g. qrencode -t ansiutf8 '<payload>')"

say "6. Budi at gate North 1: the scanner sends the code with a new nonce (its API key holds gate:scan only)"
scan 1
call "$gate" POST "/v1/access/$ticket/revoke" "$gate_key" '{}'
echo "  (the scanner's key cannot revoke access: $(get error))"
say "7. the same ticket scanned again (a friend tries it; a new nonce): refused"
scan 2

say "8. Budi asks for a refund: the order is refunding, and gate-acl is told to revoke the ticket's access"
call "$ticketing" POST "/v1/orders/$order/refund" "$admin_key" '{}'
echo "  -> order $order: $(get state); refund $(get refund.amount): $(get refund.state); ticket: $(get tickets.0.state)"
echo "waiting up to $refund_wait s for the refund to complete (gate-acl revokes the access, then ticketing refunds)"
deadline=$((SECONDS + refund_wait))
until [ "$(get refund.state)" = refunded ] || [ $SECONDS -ge $deadline ]; do
  sleep 0.2
  call "$ticketing" GET "/v1/orders/$order" "$admin_key" >/dev/null
done
if [ "$(get refund.state)" != refunded ]; then
  echo "the refund did not complete within $refund_wait s (order $(get state), ticket $(get tickets.0.state)):" \
    "see $dir/logs (saga_outbox_pending_messages and saga_dead_letters_total on both services' /metrics)" >&2
  exit 1
fi
echo "  -> order $order: $(get state); refund: $(get refund.state); ticket: $(get tickets.0.state)"
echo "  (the VIP seat is back on sale)"
seats

say "9. the refunded ticket scanned again"
scan 3

say "the end"
echo "the whole story is in the back office: $cms_url (admin, password in $secrets/admin-password) — the dashboard,"
echo "the event and its areas, the orders (Budi's refunded), the refunds"
if [ -t 0 ] && [ -t 1 ]; then
  read -r -p "press Enter to stop the servers " _
fi
echo "the servers stop now; the logs stay"
echo "  auth-service:      $dir/logs/auth.log"
echo "  ticketing-service: $dir/logs/ticketing.log"
echo "  gate-acl-service:  $dir/logs/gate-acl.log"
echo "  ticketing-cms:     $dir/logs/cms.log"
echo "  PostgreSQL:        $dir/logs/postgres.log (copied there when it stops)"
echo "  Kafka:             $dir/kafka/kafka.log"
