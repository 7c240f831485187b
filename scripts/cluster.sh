#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1, built from Kubernetes' and etcd's Go modules (the envtest
# way): etcd, kube-apiserver, kube-controller-manager and kube-scheduler, plus kubectl.
#
#   scripts/cluster.sh build   # build (once, cached) the binaries; prints the assets folder
#   scripts/cluster.sh up      # build if needed, then start the control plane; prints the env to use
#   scripts/cluster.sh env     # eval "$(scripts/cluster.sh env)": KUBECONFIG, KUBEBUILDER_ASSETS, PATH
#   scripts/cluster.sh down    # stop it (by PID) and delete its state
#   scripts/cluster.sh status  # what runs
#
# Binaries: ~/.cache/microfleet/k8s/v<version>/bin (KUBEBUILDER_ASSETS layout: etcd, kube-apiserver,
# kubectl, plus kube-controller-manager and kube-scheduler). With KUBEBUILDER_ASSETS set to a folder that
# already holds envtest's etcd, kube-apiserver and kubectl, those are used and only the controller-manager
# and scheduler are built.
#
# Settings (environment): MICROFLEET_K8S_VERSION (1.36.3), MICROFLEET_ETCD_VERSION (3.6.16),
# MICROFLEET_CLUSTER_DIR (/tmp/microfleet-cluster: certificates, kubeconfig, logs, audit log, PIDs),
# MICROFLEET_APISERVER_PORT (16443), MICROFLEET_ETCD_PORT (12379; the peer port is the next one),
# MICROFLEET_CACHE (~/.cache/microfleet).
#
# The API server runs with RBAC and Node authorization, service-account token signing, its default admission
# plugins, and an audit log (Metadata level, every write) in $MICROFLEET_CLUSTER_DIR/audit.log. Pods need a
# node: scripts/node.sh starts the pod runner (tests/pod-runner), which runs them as local processes.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

k8s_version="${MICROFLEET_K8S_VERSION:-1.36.3}"
etcd_version="${MICROFLEET_ETCD_VERSION:-3.6.16}"
cache="${MICROFLEET_CACHE:-$HOME/.cache/microfleet}"
dir="${MICROFLEET_CLUSTER_DIR:-/tmp/microfleet-cluster}"
api_port="${MICROFLEET_APISERVER_PORT:-16443}"
etcd_port="${MICROFLEET_ETCD_PORT:-12379}"
built="$cache/k8s/v$k8s_version/bin"
assets="${KUBEBUILDER_ASSETS:-$built}"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# The folder each binary comes from: envtest's three from KUBEBUILDER_ASSETS when it has them, the rest built.
bin() {
  case "$1" in
    etcd | kube-apiserver | kubectl) [ -x "$assets/$1" ] && { echo "$assets/$1"; return; } ;;
  esac
  echo "$built/$1"
}

# go.mod of a throw-away module that builds k8s.io/kubernetes' commands: the release's go.mod names its
# staging modules (k8s.io/api, client-go, ...) at v0.0.0 with `replace => ./staging/...`, which only works
# inside its own repository, so each one is replaced by its published v0.<minor>.<patch>.
k8s_gomod() {
  local published="$1" staging_version="v0.${k8s_version#1.}"
  printf 'module microfleet.local/k8s-build\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$k8s_version"
  grep -oE '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging' "$published" |
    awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
  printf ')\n'
}

build() {
  local need=()
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    [ -x "$(bin "$b")" ] || need+=("$b")
  done
  if [ "${#need[@]}" = 0 ]; then
    echo "$built"
    return
  fi
  command -v go >/dev/null || die "go is not installed (needed to build ${need[*]})"
  mkdir -p "$built"
  local started=$SECONDS work
  work="$(mktemp -d)"
  export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  local k8s_cmds=()
  for b in "${need[@]}"; do
    [ "$b" = etcd ] || k8s_cmds+=("k8s.io/kubernetes/cmd/$b")
  done
  if [ "${#k8s_cmds[@]}" != 0 ]; then
    log "building ${k8s_cmds[*]##*/} from k8s.io/kubernetes v$k8s_version (once; cached in $built)"
    local published
    published="$(cd "$work" && go mod download -json "k8s.io/kubernetes@v$k8s_version" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')" || die "cannot download k8s.io/kubernetes v$k8s_version"
    mkdir -p "$work/k8s"
    k8s_gomod "$published" >"$work/k8s/go.mod"
    # the version the binaries report (what Helm and kubectl read from /version), as Kubernetes' own build sets it
    local ldflags="-s -w" pkg
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $pkg.gitVersion=v$k8s_version -X $pkg.gitMajor=${k8s_version%%.*}"
      ldflags+=" -X $pkg.gitMinor=$(echo "$k8s_version" | cut -d. -f2) -X $pkg.gitTreeState=clean"
    done
    (cd "$work/k8s" && go build -trimpath -ldflags="$ldflags" -o "$built/" "${k8s_cmds[@]}") >&2 ||
      die "building Kubernetes v$k8s_version failed (see above)"
  fi
  if [[ " ${need[*]} " == *" etcd "* ]]; then
    log "building etcd v$etcd_version from go.etcd.io/etcd/server/v3 (once; cached in $built)"
    mkdir -p "$work/etcd"
    printf 'module microfleet.local/etcd-build\n\ngo 1.26.0\n' >"$work/etcd/go.mod"
    (cd "$work/etcd" && go get "go.etcd.io/etcd/server/v3@v$etcd_version" &&
      go build -trimpath -ldflags='-s -w' -o "$built/etcd" go.etcd.io/etcd/server/v3) >&2 ||
      die "building etcd v$etcd_version failed (see above)"
  fi
  rm -rf "$work"
  log "built ${need[*]} in $((SECONDS - started)) s"
  echo "$built"
}

# A CA, the API server's serving certificate, an admin client certificate (system:masters) and the
# service-account signing key pair, made with openssl.
certificates() {
  local c="$dir/pki"
  mkdir -p "$c"
  [ -f "$c/admin.crt" ] && return
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=microfleet-test-ca" \
    -keyout "$c/ca.key" -out "$c/ca.crt" 2>/dev/null
  cat >"$c/apiserver.ext" <<EOF
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EOF
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$c/apiserver.key" -out "$c/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$c/apiserver.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial -days 3650 \
    -extfile "$c/apiserver.ext" -out "$c/apiserver.crt" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$c/client.ext"
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=microfleet-admin" \
    -keyout "$c/admin.key" -out "$c/admin.csr" 2>/dev/null
  openssl x509 -req -in "$c/admin.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -CAcreateserial -days 3650 \
    -extfile "$c/client.ext" -out "$c/admin.crt" 2>/dev/null
  openssl genrsa -out "$c/sa.key" 2048 2>/dev/null
  openssl rsa -in "$c/sa.key" -pubout -out "$c/sa.pub" 2>/dev/null
}

kubeconfig() {
  local c="$dir/pki"
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: microfleet
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority: $c/ca.crt
users:
  - name: admin
    user:
      client-certificate: $c/admin.crt
      client-key: $c/admin.key
contexts:
  - name: microfleet
    context: {cluster: microfleet, user: admin, namespace: default}
current-context: microfleet
EOF
}

audit_policy() {
  cat >"$dir/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # who wrote what: every write, at Metadata level (user, user agent, verb, object, response code)
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
EOF
}

start() { # name, command...
  local name="$1"
  shift
  nohup "$@" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

running() { pid_running "$dir/$1.pid"; }

wait_for() { # what, seconds, command...
  local what="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up within ${seconds}s (logs in $dir)"
    sleep 0.5
  done
}

up() {
  build >/dev/null
  if running kube-apiserver; then
    log "already running (dir $dir)"
    env_lines
    return
  fi
  mkdir -p "$dir"
  certificates
  kubeconfig
  audit_policy
  local c="$dir/pki" started=$SECONDS
  start etcd "$(bin etcd)" --name microfleet --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "microfleet=http://127.0.0.1:$((etcd_port + 1))" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"
  start kube-apiserver "$(bin kube-apiserver)" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --cert-dir "$dir/pki" --tls-cert-file "$c/apiserver.crt" --tls-private-key-file "$c/apiserver.key" \
    --client-ca-file "$c/ca.crt" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction \
    --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$c/sa.pub" --service-account-signing-key-file "$c/sa.key" \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" --audit-log-format json \
    --audit-log-mode batch --audit-log-batch-max-wait 1s --audit-log-batch-buffer-size 100000 \
    --allow-privileged=true --profiling=false
  wait_for kube-apiserver 120 "$(bin kubectl)" --kubeconfig "$dir/kubeconfig" get --raw /readyz
  start kube-controller-manager "$(bin kube-controller-manager)" \
    --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
    --authorization-kubeconfig "$dir/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false \
    --controllers '*' --use-service-account-credentials=true \
    --service-account-private-key-file "$c/sa.key" --root-ca-file "$c/ca.crt" \
    --cluster-signing-cert-file "$c/ca.crt" --cluster-signing-key-file "$c/ca.key" \
    --concurrent-cron-job-syncs 5 --profiling=false
  start kube-scheduler "$(bin kube-scheduler)" \
    --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
    --authorization-kubeconfig "$dir/kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 0 --leader-elect=false --profiling=false
  # ready when the controller-manager's serviceaccount controller has made the default ServiceAccount
  wait_for "kube-controller-manager" 120 "$(bin kubectl)" --kubeconfig "$dir/kubeconfig" get serviceaccount default
  for p in kube-controller-manager kube-scheduler; do
    running "$p" || die "$p exited (log: $dir/$p.log)"
  done
  log "up in $((SECONDS - started)) s: https://127.0.0.1:$api_port (dir $dir)"
  env_lines
}

env_lines() {
  echo "export KUBECONFIG=\"$dir/kubeconfig\""
  echo "export KUBEBUILDER_ASSETS=\"$assets\""
  echo "export MICROFLEET_CLUSTER_DIR=\"$dir\""
  echo "export PATH=\"$(dirname "$(bin kubectl)"):\$PATH\""
}

down() {
  for p in kube-scheduler kube-controller-manager kube-apiserver etcd; do
    stop_pid "$dir/$p.pid"
  done
  rm -rf "$dir/etcd"
  log "down"
}

status() {
  for p in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    if running "$p"; then echo "$p: running (pid $(cat "$dir/$p.pid"))"; else echo "$p: stopped"; fi
  done
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  env) env_lines ;;
  status) status ;;
  *) die "usage: scripts/cluster.sh build|up|down|env|status" ;;
esac
