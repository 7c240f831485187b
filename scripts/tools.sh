#!/usr/bin/env bash
# Installs (idempotently) the tools the tests need, into ~/.cache/microfleet, and prints the PATH to use:
#   tool_env="$(scripts/tools.sh)" && eval "$tool_env"
# - kubernetes-validate (upstream Kubernetes OpenAPI schemas, offline) in a Python venv
# - Helm (helm.sh/helm/v3 built from the Go module proxy) for helm lint/template/install
# - Prometheus tooling from Debian (promtool, prometheus-pushgateway) and libssl-dev + pkg-config (rdkafka's
#   TLS) when missing (needs root, as CI is)
# - the Kubernetes control plane's binaries (scripts/cluster.sh build) and Kafka's classpath (scripts/kafka.sh
#   fetch), so that the test run only starts them; tests/kstatus (Flux's health check); the prometheus-operator's
#   PrometheusRule and ServiceMonitor CRDs from its Go module
# Any install that fails stops the script with a non-zero exit (callers: `tool_env="$(scripts/tools.sh)"`).
set -euo pipefail
cd "$(dirname "$0")/.."
helm_version="${MICROFLEET_HELM_VERSION:-3.22.0}"
cache="${MICROFLEET_CACHE:-$HOME/.cache/microfleet}"
mkdir -p "$cache"
venv="$cache/venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "installing kubernetes-validate into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0 >&2
fi
if ! command -v promtool >/dev/null || ! command -v prometheus-pushgateway >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing prometheus and prometheus-pushgateway (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends prometheus prometheus-pushgateway >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends prometheus prometheus-pushgateway >&2; }
  else
    echo "warning: promtool/prometheus-pushgateway missing and not root: install Debian's prometheus and prometheus-pushgateway" >&2
  fi
fi
# rdkafka's TLS (the Kafka sink) links the system's OpenSSL: its headers and pkg-config must be there
if ! dpkg -s libssl-dev pkg-config >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing libssl-dev and pkg-config (Debian)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends libssl-dev pkg-config >&2 \
      || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends libssl-dev pkg-config >&2; }
  else
    echo "error: libssl-dev and pkg-config are missing and this is not root: install them" >&2
    exit 1
  fi
fi
helm_dir="$cache/helm/v$helm_version"
if [ ! -x "$helm_dir/helm" ]; then
  echo "building helm v$helm_version from helm.sh/helm/v3 into $helm_dir (once)" >&2
  GOBIN="$helm_dir" GOFLAGS=-mod=mod go install -trimpath \
    -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=v$helm_version" \
    "helm.sh/helm/v3/cmd/helm@v$helm_version" >&2
fi
scripts/cluster.sh build >/dev/null
scripts/kafka.sh fetch
# kstatus: the health Flux computes for an object (tests/kstatus, sigs.k8s.io/cli-utils v0.37.2)
kstatus_dir="$cache/kstatus/$(sha256sum tests/kstatus/main.go tests/kstatus/go.sum | sha256sum | cut -c1-12)"
if [ ! -x "$kstatus_dir/kstatus" ]; then
  echo "building tests/kstatus into $kstatus_dir (once)" >&2
  (cd tests/kstatus && go build -mod=readonly -trimpath -o "$kstatus_dir/kstatus" .) >&2
fi
# the prometheus-operator's CRDs (PrometheusRule, ServiceMonitor), from its Go module's files
po_version="${MICROFLEET_PROMETHEUS_OPERATOR_VERSION:-0.85.0}"
po_crds="$cache/prometheus-operator/v$po_version"
if [ ! -f "$po_crds/monitoring.coreos.com_prometheusrules.yaml" ]; then
  echo "fetching the prometheus-operator v$po_version CRDs into $po_crds (once)" >&2
  po_dir="$(cd "$(mktemp -d)" && go mod download -json "github.com/prometheus-operator/prometheus-operator@v$po_version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  mkdir -p "$po_crds"
  cp "$po_dir"/example/prometheus-operator-crd/monitoring.coreos.com_{prometheusrules,servicemonitors}.yaml "$po_crds/"
fi
# the Gateway API's HTTPRoute and CloudNativePG's Cluster CRDs, from their Go modules' files (a
# TicketingService's children of those kinds are checked against them: tests/conformance.rs)
gw_version="${MICROFLEET_GATEWAY_API_VERSION:-1.2.1}"
cnpg_version="${MICROFLEET_CLOUDNATIVE_PG_VERSION:-1.25.1}"
optional_crds="$cache/optional-crds/gateway-api-v$gw_version-cnpg-v$cnpg_version"
if [ ! -f "$optional_crds/postgresql.cnpg.io_clusters.yaml" ]; then
  echo "fetching the Gateway API v$gw_version and CloudNativePG v$cnpg_version CRDs into $optional_crds (once)" >&2
  module_dir() {
    (cd "$(mktemp -d)" && go mod download -json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  }
  gw_dir="$(module_dir "sigs.k8s.io/gateway-api@v$gw_version")"
  cnpg_dir="$(module_dir "github.com/cloudnative-pg/cloudnative-pg@v$cnpg_version")"
  mkdir -p "$optional_crds"
  cp "$gw_dir/config/crd/standard/gateway.networking.k8s.io_httproutes.yaml" "$optional_crds/"
  cp "$cnpg_dir/config/crd/bases/postgresql.cnpg.io_clusters.yaml" "$optional_crds/"
fi
echo "export MICROFLEET_PROMETHEUS_OPERATOR_CRDS=\"$po_crds\""
echo "export MICROFLEET_OPTIONAL_CRDS=\"$optional_crds\""
echo "export PATH=\"$venv/bin:$helm_dir:$kstatus_dir:\$PATH\""
