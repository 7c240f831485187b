#!/usr/bin/env bash
# The main job on an embedded default: what the operator creates for the example ClusterFetch
# (examples/promo-eligible-users.yaml), rendered without a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest="${1:-examples/promo-eligible-users.yaml}"
echo "# microfleet-operator render -f $manifest" >&2
cargo run --quiet --locked -p microfleet-operator -- render -f "$manifest"
