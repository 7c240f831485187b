#!/usr/bin/env bash
# The cluster DNS of the local control plane (scripts/cluster.sh): CoreDNS built from its Go module with only
# the plugins a cluster DNS needs, its `kubernetes` plugin reading the API server through the admin kubeconfig
# and answering for cluster.local (Services with their EndpointSlices, pods) and the reverse zones.
#
#   scripts/coredns.sh build   # build (once, cached) the binary; prints its path
#   scripts/coredns.sh up      # build if needed, then start it; prints the env to use
#   scripts/coredns.sh env     # eval "$(scripts/coredns.sh env)": MICROFLEET_DNS_ADDR, MICROFLEET_DNS_PORT
#   scripts/coredns.sh down    # stop it (by PID)
#   scripts/coredns.sh status
#
# Binary: ~/.cache/microfleet/coredns/v<version>/coredns. Settings (environment): MICROFLEET_COREDNS_VERSION
# (1.15.0), MICROFLEET_DNS_ADDR (127.0.0.1) and MICROFLEET_DNS_PORT (10053): where it listens (UDP and TCP)
# for tests and people; MICROFLEET_DNS_POD_ADDR (unset): also listen on <it>:53 for pods, whose resolv.conf
# cannot name a port (scripts/node.sh sets it to the pod bridge's address); MICROFLEET_DNS_READY_PORT (MICROFLEET_DNS_PORT + 1, on 127.0.0.1: the `ready`
# plugin, 200 once the kubernetes plugin has synced), MICROFLEET_CLUSTER_DIR (the Corefile, log and PID go to
# <dir>/coredns), KUBECONFIG (from `scripts/cluster.sh env`), MICROFLEET_CACHE (~/.cache/microfleet).
# Only cluster.local and the reverse zones are served: nothing is forwarded (the machine has no upstream).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

version="${MICROFLEET_COREDNS_VERSION:-1.15.0}"
cache="${MICROFLEET_CACHE:-$HOME/.cache/microfleet}"
cluster_dir="${MICROFLEET_CLUSTER_DIR:-/tmp/microfleet-cluster}"
dir="$cluster_dir/coredns"
addr="${MICROFLEET_DNS_ADDR:-127.0.0.1}"
port="${MICROFLEET_DNS_PORT:-10053}"
ready_port="${MICROFLEET_DNS_READY_PORT:-$((port + 1))}"
pod_addr="${MICROFLEET_DNS_POD_ADDR:-}"
binary="$cache/coredns/v$version/coredns"

log() { printf 'coredns: %s\n' "$*" >&2; }
die() { printf 'coredns: error: %s\n' "$*" >&2; exit 1; }

# main.go of a throw-away module: CoreDNS's own main, with only these plugins linked (its full build links
# every cloud SDK it supports); the list keeps the order of CoreDNS's plugin.cfg, the order they run in.
plugins=(reload bind ready errors log loadbalance cache kubernetes loop)
main_go() {
  printf 'package main\n\nimport (\n\t"github.com/coredns/coredns/core/dnsserver"\n'
  printf '\t"github.com/coredns/coredns/coremain"\n\n'
  local p
  for p in "${plugins[@]}"; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
  printf ')\n\nfunc main() {\n\tif err := dnsserver.SetDirectives([]string{'
  for p in "${plugins[@]}"; do printf '"%s", ' "$p"; done
  printf '}); err != nil {\n\t\tpanic(err)\n\t}\n\tcoremain.Run()\n}\n'
}

build() {
  if [ -x "$binary" ]; then
    echo "$binary"
    return
  fi
  command -v go >/dev/null || die "go is not installed (needed to build CoreDNS)"
  log "building CoreDNS v$version from github.com/coredns/coredns (once; cached in ${binary%/*})"
  local started=$SECONDS work
  work="$(mktemp -d)"
  export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  printf 'module microfleet.local/coredns-build\n\ngo 1.26.0\n' >"$work/go.mod"
  main_go >"$work/main.go"
  mkdir -p "${binary%/*}"
  (cd "$work" && go get "github.com/coredns/coredns@v$version" &&
    go build -trimpath -ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=v$version" \
      -o "$binary" .) >&2 || die "building CoreDNS v$version failed (see above)"
  rm -rf "$work"
  log "built in $((SECONDS - started)) s"
  echo "$binary"
}

# a server block on ADDR:PORT; EXTRA lines go first (the `ready` endpoint, once)
server_block() { # addr, port, extra
  cat <<EOF
cluster.local:$2 in-addr.arpa:$2 ip6.arpa:$2 {
    bind $1$3
    errors
    log
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG microfleet
        pods verified
        ttl 5
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loadbalance
}
EOF
}

corefile() {
  server_block "$addr" "$port" "
    ready 127.0.0.1:$ready_port"
  if [ -n "$pod_addr" ]; then server_block "$pod_addr" 53 ""; fi
}

running() { pid_running "$dir/coredns.pid"; }

up() {
  [ -n "${KUBECONFIG:-}" ] || die "KUBECONFIG is not set: eval \"\$(scripts/cluster.sh env)\" first"
  build >/dev/null
  mkdir -p "$dir"
  if running; then
    if [ "$(corefile)" = "$(cat "$dir/Corefile" 2>/dev/null)" ]; then
      log "already running (dir $dir)"
      env_lines
      return
    fi
    log "restarting with the new settings"
    stop_pid "$dir/coredns.pid"
  fi
  corefile >"$dir/Corefile"
  nohup "$binary" -conf "$dir/Corefile" >"$dir/coredns.log" 2>&1 &
  echo $! >"$dir/coredns.pid"
  local deadline=$((SECONDS + 60))
  until curl -sf "http://127.0.0.1:$ready_port/ready" >/dev/null 2>&1; do
    running || die "CoreDNS exited: $(tail -n 20 "$dir/coredns.log")"
    [ $SECONDS -lt $deadline ] || die "CoreDNS not ready within 60 s (log: $dir/coredns.log)"
    sleep 0.5
  done
  log "serving cluster.local on $addr:$port${pod_addr:+ and $pod_addr:53} (log: $dir/coredns.log)"
  env_lines
}

env_lines() {
  echo "export MICROFLEET_DNS_ADDR=\"$addr\""
  echo "export MICROFLEET_DNS_PORT=\"$port\""
}

down() {
  stop_pid "$dir/coredns.pid"
  log "down"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  env) env_lines ;;
  status) if running; then echo "coredns: running (pid $(cat "$dir/coredns.pid"))"; else echo "coredns: stopped"; fi ;;
  *) die "usage: scripts/coredns.sh build|up|down|env|status" ;;
esac
