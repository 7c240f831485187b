#!/usr/bin/env bash
# Issue 13's CMS scenario in a real browser (tests/cms/scenario.cjs: playwright-core driving Debian's
# chromium, both installed by scripts/browser.sh), against the real services: auth-service, ticketing-service,
# gate-acl-service and ticketing-cms (debug builds) on free ports of 127.0.0.1, on the running PostgreSQL and
# Kafka (MICROFLEET_PG_URL, MICROFLEET_KAFKA_BOOTSTRAP: `scripts/postgres.sh up`, `scripts/kafka.sh up`) with
# databases and a topic prefix of their own. scripts/test.sh runs it. A screenshot of each main screen is
# kept in CMS_SCREENSHOTS (default target/cms-screenshots); the services' logs in its logs/ folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${MICROFLEET_PG_URL:?run eval \"\$(scripts/postgres.sh up)\" first}"
: "${MICROFLEET_KAFKA_BOOTSTRAP:?run eval \"\$(scripts/kafka.sh up)\" first}"
target="${CARGO_TARGET_DIR:-target}"
bin="$target/debug"
shots="${CMS_SCREENSHOTS:-$target/cms-screenshots}"
run="cms_e2e_$$"
work="$(mktemp -d)"
pids=()
# shellcheck source=scripts/auth-lib.sh
. scripts/auth-lib.sh
# shellcheck source=scripts/ticketing-lib.sh
. scripts/ticketing-lib.sh
server="${MICROFLEET_PG_URL%/*}"
psql_do() { PGPASSWORD="${MICROFLEET_PG_PASSWORD:-microfleet}" /usr/lib/postgresql/15/bin/psql -q "$MICROFLEET_PG_URL" -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  mkdir -p "$shots/logs" && cp "$work"/logs/*.log "$shots/logs/" 2>/dev/null || true
  for db in auth ticketing gate cms; do psql_do "DROP DATABASE IF EXISTS ${run}_$db" || true; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

browser_env="$(scripts/browser.sh)"
eval "$browser_env"
cargo build --locked -q -p microfleet-auth -p microfleet-ticketing -p microfleet-gate-acl -p microfleet-cms --bins
mkdir -p "$work/logs" "$work/secrets"
rm -rf "$shots" && mkdir -p "$shots"
for db in auth ticketing gate cms; do psql_do "CREATE DATABASE ${run}_$db"; done
auth_start "$bin" "$work/secrets" "$server/${run}_auth" "$(free_port)" "$work/logs/auth.log"
pids+=("$auth_pid")
admin_token="$(auth_login admin "$work/secrets/admin-password")"
services_start "$bin" "$work/secrets" "$admin_token" "$server/${run}_ticketing" "$server/${run}_gate" \
  "$MICROFLEET_KAFKA_BOOTSTRAP" "$run" \
  "$(free_port)" "$(free_port)" "$work/logs"
cms_start "$bin" "$work/secrets" "$admin_token" "$server/${run}_cms" "$(free_port)" "$work/logs"
echo "auth $auth_url, ticketing $ticketing_url, gate-acl $gate_url, CMS $cms_url" >&2
CMS_URL="$cms_url" AUTH_URL="$auth_url" TICKETING_URL="$ticketing_url" GATE_URL="$gate_url" ADMIN_USERNAME=admin \
  ADMIN_PASSWORD_FILE="$work/secrets/admin-password" SHOTS_DIR="$shots" node tests/cms/scenario.cjs
