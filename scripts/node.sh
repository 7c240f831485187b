#!/usr/bin/env bash
# A node for the local control plane (scripts/cluster.sh): the pod runner (tests/pod-runner) registers Node
# `microfleet-node` and runs the pods bound to it as local processes, each image mapped to a binary of this
# workspace (debug build). Pods share the host network: their ports are on 127.0.0.1 — unless
# MICROFLEET_POD_NETWORK=1: then each pod gets a network namespace of its own, a veth on the bridge
# MICROFLEET_POD_BRIDGE (mf0, made here) and an address from MICROFLEET_POD_CIDR (10.88.0.1/16: the bridge's
# address and the pod subnet), its resolv.conf naming the cluster DNS, which is started (or restarted) here
# with `scripts/coredns.sh up` listening on the bridge's address, port 53, as well; the runner DNATs Service
# ClusterIPs with nftables (installed here from Debian when missing). Needs root and iproute2.
#
#   scripts/node.sh up      # build the binaries, start the runner, wait until the Node is Ready
#   scripts/node.sh down    # stop it (its pods' processes stop with it)
#   scripts/node.sh status
#
# Needs KUBECONFIG and MICROFLEET_CLUSTER_DIR from `scripts/cluster.sh env`. Settings: MICROFLEET_NODE_NAME
# (microfleet-node), MICROFLEET_NODE_DIR (/var/lib/microfleet-node: the runner's log, PID and per-pod folders;
# not under /tmp, which the workloads mount an emptyDir over).
# MICROFLEET_NODE_TAINTS (space-separated KEY=VALUE:EFFECT; scripts/test.sh taints its second node, the one
# with the pod network, so that only pods naming it run there).
# Images: microfleet-operator, microfleet-fetcher, microfleet-demo (also under ghcr.io/microfleet/, the chart's
# defaults), microfleet-testbox (the pod runner's test image), the ticketing services ticketing-service,
# gate-acl-service, auth-service and ticketing-cms (also under ghcr.io/microfleet/, a TicketingService's
# defaults), and apache/kafka (a TicketingService's topic Job): /bin/sh, its scripts' /opt/kafka/bin/kafka-topics.sh
# being Kafka's own tool on the classpath `scripts/kafka.sh tools` resolves (run by the host's Java).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

node="${MICROFLEET_NODE_NAME:-microfleet-node}"
dir="${MICROFLEET_NODE_DIR:-/var/lib/microfleet-node}"
cluster_dir="${MICROFLEET_CLUSTER_DIR:-/tmp/microfleet-cluster}"
pod_network="${MICROFLEET_POD_NETWORK:-0}"
bridge="${MICROFLEET_POD_BRIDGE:-mf0}"
pod_cidr="${MICROFLEET_POD_CIDR:-10.88.0.1/16}"

log() { printf 'node: %s\n' "$*" >&2; }
die() { printf 'node: error: %s\n' "$*" >&2; exit 1; }

running() { pid_running "$dir/runner.pid"; }

# The pod network's bridge, with its address (idempotent), and the cluster DNS listening on it.
pod_network_up() {
  command -v nft >/dev/null || {
    log "installing nftables (Debian; the runner's Service rules)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables >&2
  }
  ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
  ip addr replace "$pod_cidr" dev "$bridge"
  ip link set "$bridge" up
  # packets from pods to Service ClusterIPs are routed back out to the bridge (this device only)
  sysctl -q -w "net.ipv4.conf.$bridge.forwarding=1"
  # ... and the kubernetes Service's ClusterIP to the API server on 127.0.0.1 (loopback DNAT, this device only)
  sysctl -q -w "net.ipv4.conf.$bridge.route_localnet=1"
  MICROFLEET_DNS_POD_ADDR="${pod_cidr%/*}" scripts/coredns.sh up >/dev/null
}

# kafka_image DIR: the apache/kafka image in DIR — `sh`, a shell that runs its `-c` script with
# /opt/kafka/bin/ read as DIR/bin/, where kafka-topics.sh runs Kafka's TopicCommand on a copy of its classpath
# (readable by the pods' users)
kafka_image() {
  local image="$1" tools
  tools="$(scripts/kafka.sh tools)"
  mkdir -p "$image/bin"
  cp -r "$tools" "$image/libs"
  cat >"$image/bin/kafka-topics.sh" <<EOF
#!/bin/sh
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData -cp '$image/libs/*' org.apache.kafka.tools.TopicCommand "\$@"
EOF
  cat >"$image/sh" <<EOF
#!/bin/sh
if [ "\$1" = -c ]; then
  script="\$(printf '%s' "\$2" | sed 's|/opt/kafka/bin/|$image/bin/|g')"
  shift 2
  exec /bin/sh -c "\$script" "\$@"
fi
exec /bin/sh "\$@"
EOF
  chmod 755 "$image/sh" "$image/bin/kafka-topics.sh"
}

up() {
  [ -n "${KUBECONFIG:-}" ] || die "KUBECONFIG is not set: eval \"\$(scripts/cluster.sh env)\" first"
  if running; then
    log "already running (dir $dir)"
    return
  fi
  log "building the pod runner and the workload binaries"
  cargo build --locked --quiet --workspace --bins >&2
  local target
  target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug"
  # "pull" the images: copy the binaries into the node's own store, so a pod that mounts a volume over the
  # folder they were built in (e.g. an emptyDir at /tmp, with the checkout under /tmp) still finds them
  local store="$dir/images" images=()
  rm -rf "$store" && mkdir -p "$store"
  for b in operator fetcher demo testbox; do
    cp "$target/microfleet-$b" "$store/microfleet-$b"
    images+=(--image "microfleet-$b=$store/microfleet-$b")
  done
  for b in operator fetcher demo; do
    images+=(--image "ghcr.io/microfleet/microfleet-$b=$store/microfleet-$b")
  done
  for b in ticketing-service gate-acl-service auth-service ticketing-cms; do
    cp "$target/$b" "$store/$b"
    images+=(--image "$b=$store/$b" --image "ghcr.io/microfleet/$b=$store/$b")
  done
  kafka_image "$store/kafka"
  images+=(--image "apache/kafka=$store/kafka/sh")
  local network_args=()
  if [ "$pod_network" = 1 ]; then
    pod_network_up
    network_args=(--pod-bridge "$bridge" --pod-cidr "$pod_cidr")
  fi
  local taint
  for taint in ${MICROFLEET_NODE_TAINTS:-}; do network_args+=(--taint "$taint"); done
  local api_port
  api_port="$(sed -n 's|.*server: https://127.0.0.1:\([0-9]*\).*|\1|p' "$KUBECONFIG" | head -n 1)"
  mkdir -p "$dir"
  nohup "$target/microfleet-pod-runner" --node-name "$node" --work-dir "$dir/pods" \
    --api-host 127.0.0.1 --api-port "${api_port:-16443}" --ca-file "$cluster_dir/pki/ca.crt" "${images[@]}" "${network_args[@]}" \
    >"$dir/runner.log" 2>&1 &
  echo $! >"$dir/runner.pid"
  local deadline=$((SECONDS + 60))
  until kubectl get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; do
    running || die "the pod runner exited: $(tail -n 20 "$dir/runner.log")"
    [ $SECONDS -lt $deadline ] || die "node $node not Ready within 60 s (log: $dir/runner.log)"
    sleep 0.5
  done
  log "node $node Ready (runner log: $dir/runner.log${network_args:+; pod network on $bridge, $pod_cidr})"
}

down() {
  stop_pid "$dir/runner.pid"
  if [ "$pod_network" = 1 ] && ip link show "$bridge" >/dev/null 2>&1; then
    ip link delete "$bridge"
  fi
  log "down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) if running; then echo "node: running (pid $(cat "$dir/runner.pid"))"; else echo "node: stopped"; fi ;;
  *) die "usage: scripts/node.sh up|down|status" ;;
esac
