#!/usr/bin/env bash
# Installs (idempotently) the tools the tests need, into ~/.cache/microfleet, and prints the PATH to use:
#   eval "$(scripts/tools.sh)"
# - kubernetes-validate (upstream Kubernetes OpenAPI schemas, offline) in a Python venv
# - cargo-nextest when missing (falls back to cargo test if it cannot be installed)
set -euo pipefail
cache="${MICROFLEET_CACHE:-$HOME/.cache/microfleet}"
mkdir -p "$cache"
venv="$cache/venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "installing kubernetes-validate into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0 >&2
fi
echo "export PATH=\"$venv/bin:\$PATH\""
