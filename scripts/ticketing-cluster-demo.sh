#!/usr/bin/env bash
# The example TicketingService (examples/ticketing-service.yaml) on the local control plane
# (`scripts/demo.sh ticketing-cluster` runs this): the operator installed by Helm and running as its Deployment;
# PostgreSQL and Kafka on the host; the node with the pod network (each pod at an address of its own, the
# cluster DNS, Service ClusterIPs), so the four services reach each other by the names the operator gave
# them, and the host's PostgreSQL and Kafka at their gateway. The example is applied as it is but for what a
# one-broker machine without CloudNativePG needs: the broker's address, replication factor 1, and the auth
# database from a URL Secret like the others. `kubectl get ts -w` while the migrations, the topic Job and the
# rollouts run; then one order through the saga and its QR code scanned at the gate, by the services' pod
# addresses (the host does not reach ClusterIPs; there is no ingress controller).
# Settings: the scripts' own (MICROFLEET_APISERVER_PORT, MICROFLEET_PG_PORT, MICROFLEET_KAFKA_PORT,
# MICROFLEET_POD_BRIDGE, MICROFLEET_POD_CIDR, MICROFLEET_DNS_PORT, MICROFLEET_NODE_DIR, ... — see each script),
# ADMIN_PORT (default 18090: the operator's admin server), KEEP=1 leaves everything running at the end (stop
# it with scripts/node.sh down; scripts/kafka.sh down; scripts/postgres.sh down; scripts/cluster.sh down, the
# node with MICROFLEET_POD_NETWORK=1). Needs root (the pod network).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
admin_port="${ADMIN_PORT:-18090}"
pod_cidr="${MICROFLEET_POD_CIDR:-10.88.0.1/16}"
gateway="${pod_cidr%/*}"
export MICROFLEET_POD_NETWORK=1 MICROFLEET_KAFKA_POD_ADDR="$gateway"
MICROFLEET_PG_POD_CIDR="$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$pod_cidr")"
export MICROFLEET_PG_POD_CIDR
ns=ticketing
watcher=""
cleanup() {
  [ -n "$watcher" ] && kill "$watcher" 2>/dev/null
  if [ "${KEEP:-}" != 1 ]; then
    scripts/node.sh down || true
    scripts/kafka.sh down || true
    scripts/postgres.sh down || true
    scripts/cluster.sh down || true
  fi
}
trap cleanup EXIT

say "the tools, the control plane, PostgreSQL and Kafka (first time: builds Kubernetes, etcd, CoreDNS and Helm, ~15 min)"
tool_env="$(scripts/tools.sh)"
eval "$tool_env"
cluster_env="$(scripts/cluster.sh up)"
eval "$cluster_env"
postgres_env="$(scripts/postgres.sh up)"
eval "$postgres_env"
kafka_env="$(scripts/kafka.sh up)"
eval "$kafka_env"

say "the node, with the pod network (bridge ${MICROFLEET_POD_BRIDGE:-mf0}, $pod_cidr) and the cluster DNS"
scripts/node.sh up
kubectl get nodes -o wide

say "the CRDs (server-side apply) and the chart (helm install): the operator runs as its Deployment"
kubectl apply --server-side -f crds/
helm upgrade --install microfleet charts/microfleet --namespace microfleet-system --create-namespace --wait \
  --set image.repository=microfleet-operator,image.tag=demo \
  --set fetcherImage.repository=microfleet-fetcher,fetcherImage.tag=demo \
  --set replicaCount=1,metrics.port=$admin_port,podDisruptionBudget.enabled=false
kubectl -n microfleet-system get pods -o wide

say "namespace $ns (restricted Pod Security) and the Secrets the example names: a database per component, the keys"
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$ns" --overwrite pod-security.kubernetes.io/enforce=restricted >/dev/null
pg_url_base="${MICROFLEET_PG_URL%/postgres}"
for db in ticketing gate_acl auth cms; do
  PGPASSWORD=microfleet "/usr/lib/postgresql/${MICROFLEET_PG_VERSION:-15}/bin/psql" -q -d "$MICROFLEET_PG_URL" \
    -c "DROP DATABASE IF EXISTS demo_$db WITH (FORCE)" -c "CREATE DATABASE demo_$db" >/dev/null
  secret="${db/_/-}-db"
  kubectl -n "$ns" create secret generic "$secret" --from-literal=url="${pg_url_base/127.0.0.1/$gateway}/demo_$db" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  echo "  $secret: ${pg_url_base/127.0.0.1/$gateway}/demo_$db (password hidden in the Secret)" | sed 's|://[^@]*@|://...@|'
done
password="$(head -c 18 /dev/urandom | base64)"
kubectl -n "$ns" create secret generic ticketing-keys --dry-run=client -o yaml \
  --from-literal=qr-signing-key="$(head -c 32 /dev/urandom | base64)" \
  --from-literal=token-key-1="$(head -c 32 /dev/urandom | base64)" \
  --from-literal=bootstrap-password="$password" | kubectl apply -f - >/dev/null
echo "  ticketing-keys: qr-signing-key, token-key-1, bootstrap-password"

say "the example TicketingService, for this machine: Kafka at $MICROFLEET_KAFKA_POD_BOOTSTRAP, replication 1, auth's database from a Secret"
sed -e "s|bootstrapServers: \[.*\]|bootstrapServers: [\"$MICROFLEET_KAFKA_POD_BOOTSTRAP\"]|" \
  -e 's|replicationFactor: 3|replicationFactor: 1|' \
  -e 's|cloudNativePG: {instances: 2, storageSize: 2Gi}|urlSecretKeyRef: {name: auth-db, key: url}|' \
  examples/ticketing-service.yaml | kubectl apply -f -
kubectl -n "$ns" get ts -w &
watcher=$!
wait_until 600 sh -c "kubectl -n $ns get ts tickets -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
sleep 1
kill "$watcher" 2>/dev/null || true
watcher=""
kubectl -n "$ns" get jobs,deployments,services,hpa,pdb,ingress,networkpolicies
kubectl -n "$ns" get pods -o wide
echo "status:"
kubectl -n "$ns" get ts tickets -o jsonpath='{.status}' | python3 -m json.tool

say "one order through the saga, at the services' pod addresses"
# address SERVICE: the first ready endpoint of the Service, as ip:port
address() {
  kubectl -n "$ns" get endpointslices -l "kubernetes.io/service-name=$1" \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}' | head -n 1 | sed 's/$/:8080/'
}
auth="http://$(address tickets-auth)" ticketing="http://$(address tickets-ticketing)" gate="http://$(address tickets-gate-acl)"
json() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }
call() { # METHOD URL [BODY]
  curl -sf -X "$1" "$2" -H "authorization: Bearer $token" -H 'content-type: application/json' ${3:+--data "$3"}
}
token="$(python3 -c 'import json, sys; print(json.dumps({"username": "admin", "password": sys.argv[1]}))' "$password" |
  curl -sf -X POST "$auth/v1/login" -H 'content-type: application/json' --data @- | json accessToken)"
echo "  admin logged in at $auth"
at() { date -u -d "$1" +%FT%TZ; }
merchant="$(call POST "$ticketing/v1/merchants" '{"name": "Promotor Jakarta"}' | json id)"
event="$(call POST "$ticketing/v1/events" "{\"merchantId\": $merchant, \"name\": \"EXO EXPLORATION\", \"venue\": \"Istora Senayan\",
  \"startsAt\": \"$(at '-1 minute')\", \"endsAt\": \"$(at '+6 hours')\", \"saleStartsAt\": \"$(at '-7 days')\",
  \"saleEndsAt\": \"$(at '+5 hours')\", \"areas\": [{\"name\": \"VIP\", \"capacity\": 10, \"price\": 2500000}]}")"
event_id="$(json id <<<"$event")" area="$(json areas.0.id <<<"$event")"
call POST "$ticketing/v1/events/$event_id/approve" '{}' >/dev/null
echo "  event $event_id approved; waiting for gate-acl to learn it over Kafka"
wait_until 60 call GET "$gate/v1/events/$event_id"
gate_id="$(call POST "$gate/v1/gates" "{\"eventId\": $event_id, \"name\": \"North 1\", \"areaIds\": [$area]}" | json id)"
order="$(call POST "$ticketing/v1/orders" "{\"eventId\": $event_id, \"paymentMethod\": \"BANK_TRANSFER\",
  \"customerEmail\": \"budi@example.com\", \"items\": [{\"areaId\": $area, \"quantity\": 1}]}")"
number="$(json number <<<"$order")"
call POST "$ticketing/v1/orders/$number/payment" "{\"amount\": $(json totalPrice <<<"$order")}" >/dev/null
echo "  order $number paid; waiting for its ticket to turn active (order.paid -> gate-acl -> access.prepared)"
wait_until 60 sh -c "curl -sf '$ticketing/v1/orders/$number' -H 'authorization: Bearer $token' | grep -q '\"state\":\"active\"'"
ticket="$(call GET "$ticketing/v1/orders/$number" | json tickets.0.id)"
qr="$(call GET "$gate/v1/access/$ticket" | json qr)"
for nonce in 1 2; do
  scan="$(call POST "$gate/v1/scans" "{\"qr\": \"$qr\", \"gateId\": $gate_id, \"direction\": \"entry\",
    \"deviceId\": \"north-1\", \"nonce\": \"$nonce\", \"scannedAt\": \"$(date -u +%FT%TZ)\"}")"
  echo "  ticket $ticket scanned at North 1: $(json result <<<"$scan") ($(json reason <<<"$scan"))"
done

say "the end"
if [ "${KEEP:-}" = 1 ]; then
  echo "left running: KUBECONFIG=$KUBECONFIG kubectl -n $ns get ts,pods; the admin's password is in the Secret ticketing-keys"
else
  echo "stopping the node, Kafka, PostgreSQL and the control plane (KEEP=1 leaves them running)"
fi
