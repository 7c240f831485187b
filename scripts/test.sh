#!/usr/bin/env bash
# The whole test suite, as CI runs it: style, lint, generated artefacts in sync, then every test tier.
# Installs what it needs (see scripts/tools.sh). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# an assignment, so that a failed install stops the run here (`eval "$(...)"` would carry on)
tool_env="$(scripts/tools.sh)"
eval "$tool_env"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "generated CRDs are in sync with the Rust types"
generated="$(mktemp -d)"
trap 'rm -rf "$generated"' EXIT
cargo run --quiet --locked -p microfleet-operator -- crdgen --out "$generated" >/dev/null
for f in "$generated"/*.yaml; do
  if ! diff -u "crds/$(basename "$f")" "$f"; then
    echo "crds/$(basename "$f") is stale: run 'cargo run -p microfleet-operator -- crdgen --out crds' and commit" >&2
    exit 1
  fi
done
if [ "$(ls crds/*.yaml | wc -l)" != "$(ls "$generated"/*.yaml | wc -l)" ]; then
  echo "crds/ holds a CRD file the types no longer generate" >&2
  exit 1
fi

step "the real control plane (scripts/cluster.sh), its nodes (scripts/node.sh: one on the host network, one with the pod network), the cluster DNS (scripts/coredns.sh), Kafka (scripts/kafka.sh) and PostgreSQL (scripts/postgres.sh)"
# Started here and stopped on exit; one that was already running (a developer's) is used and left running.
stop=()
scripts/cluster.sh status | grep -q 'kube-apiserver: running' || stop+=(cluster)
scripts/node.sh status | grep -q 'node: running' || stop+=(node)
scripts/kafka.sh status | grep -q 'kafka: running' || stop+=(kafka)
scripts/postgres.sh status | grep -q 'postgres: running' || stop+=(postgres)
scripts/coredns.sh status | grep -q 'coredns: running' || stop+=(coredns)
# the second node: its own pod network (bridge, pod CIDR), tainted so that only pods naming it run there
pod_net_node=(env MICROFLEET_NODE_NAME=microfleet-pod-net MICROFLEET_NODE_DIR="${MICROFLEET_POD_NET_NODE_DIR:-/var/lib/microfleet-pod-net}"
  MICROFLEET_POD_NETWORK=1 MICROFLEET_NODE_TAINTS=microfleet.io/pod-network=true:NoSchedule)
"${pod_net_node[@]}" scripts/node.sh status | grep -q 'node: running' || stop+=(pod-net-node)
cleanup() {
  rm -rf "$generated"
  # the node first (its pods' processes go with it), the control plane last
  if [[ " ${stop[*]} " == *" pod-net-node "* ]]; then "${pod_net_node[@]}" scripts/node.sh down || true; fi
  for s in node coredns kafka postgres cluster; do
    if [[ " ${stop[*]} " == *" $s "* ]]; then scripts/$s.sh down || true; fi
  done
}
trap cleanup EXIT
cluster_env="$(scripts/cluster.sh up)"
eval "$cluster_env"
# pods on the second node's pod network reach Kafka and PostgreSQL at their gateway (the bridge's address):
# Kafka advertises a listener there, PostgreSQL accepts logins from the pod subnet (the TicketingService e2e)
pod_cidr="${MICROFLEET_POD_CIDR:-10.88.0.1/16}"
export MICROFLEET_KAFKA_POD_ADDR="${MICROFLEET_KAFKA_POD_ADDR:-${pod_cidr%/*}}"
MICROFLEET_PG_POD_CIDR="${MICROFLEET_PG_POD_CIDR:-$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_interface(sys.argv[1]).network)' "$pod_cidr")}"
export MICROFLEET_PG_POD_CIDR
kafka_env="$(scripts/kafka.sh up)"
eval "$kafka_env"
# the ticketing services' tests: each creates its own database on this server (MICROFLEET_PG_URL)
postgres_env="$(scripts/postgres.sh up)"
eval "$postgres_env"
cargo build --workspace --bins --locked
scripts/node.sh up
# it also starts the cluster DNS (scripts/coredns.sh), listening on 127.0.0.1 and on its bridge
"${pod_net_node[@]}" scripts/node.sh up
coredns_env="$(scripts/coredns.sh env)"
eval "$coredns_env"
export MICROFLEET_POD_NETWORK_NODE=microfleet-pod-net

step "tests: every tier, the cluster ones against the control plane, node and broker above"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

step "the CMS in a browser (tests/cms/browser.sh: issue 13's scenario on the broker and database above; screenshots in target/cms-screenshots)"
tests/cms/browser.sh
