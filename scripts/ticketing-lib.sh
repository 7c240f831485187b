#!/usr/bin/env bash
# Shared by scripts/ticketing-demo.sh and tests/cms/browser.sh: starting ticketing-service, gate-acl-service
# and ticketing-cms on 127.0.0.1 once the auth service runs (scripts/auth-lib.sh's auth_start: $auth_url, and
# the admin's access token to create each one's API key). Each migrates its own database first, serves in the
# background (PIDs appended to the caller's `pids` array) and is waited for on /readyz. Keys are written to
# files readable by their owner only, never printed (their visible prefixes are). Sourced, not run; defines functions only.

# ready URL LOG: waits up to a minute for URL/readyz
ready() {
  for _ in $(seq 300); do curl -sf "$1/readyz" >/dev/null && return 0; sleep 0.2; done
  echo "$1 is not ready: see $2" >&2
  return 1
}

# services_start BIN SECRETS ADMIN_TOKEN TICKETING_DB GATE_DB KAFKA_BOOTSTRAP TOPIC_PREFIX TICKETING_PORT GATE_PORT LOGS:
# ticketing-service and gate-acl-service on their databases (URLs; both must exist), each with its own API key
# (auth:introspect) in SECRETS, the saga's topics under TOPIC_PREFIX; sets $ticketing_url and $gate_url.
services_start() {
  local bin="$1" secrets="$2" admin_token="$3" ticketing_db="$4" gate_db="$5" bootstrap="$6" prefix="$7"
  local ticketing_port="$8" gate_port="$9" logs="${10}"
  local service
  for service in ticketing-service gate-acl-service; do
    echo "  -> API key $(auth_api_key "$admin_token" "$service" "$secrets/$service.key" auth:introspect) for $service (auth:introspect)"
  done
  local env=(KAFKA_BOOTSTRAP_SERVERS="$bootstrap" KAFKA_TOPIC_PREFIX="$prefix" OUTBOX_RELAY_INTERVAL_MS=50
    LOG_FORMAT=json AUTH_URL="$auth_url")
  env "${env[@]}" DATABASE_URL="$ticketing_db" "$bin/ticketing-service" migrate >>"$logs/migrate.log" 2>&1
  env "${env[@]}" DATABASE_URL="$gate_db" "$bin/gate-acl-service" migrate >>"$logs/migrate.log" 2>&1
  env "${env[@]}" DATABASE_URL="$ticketing_db" LISTEN_ADDR="127.0.0.1:$ticketing_port" \
    AUTH_SERVICE_KEY_FILE="$secrets/ticketing-service.key" "$bin/ticketing-service" serve >>"$logs/ticketing.log" 2>&1 &
  pids+=($!)
  (umask 077 && head -c 32 /dev/urandom | base64 >"$secrets/qr-signing.key")
  env "${env[@]}" DATABASE_URL="$gate_db" LISTEN_ADDR="127.0.0.1:$gate_port" \
    AUTH_SERVICE_KEY_FILE="$secrets/gate-acl-service.key" SIGNING_KEY="$(cat "$secrets/qr-signing.key")" \
    "$bin/gate-acl-service" serve >>"$logs/gate-acl.log" 2>&1 &
  pids+=($!)
  ticketing_url="http://127.0.0.1:$ticketing_port"
  gate_url="http://127.0.0.1:$gate_port"
  ready "$ticketing_url" "$logs/ticketing.log"
  ready "$gate_url" "$logs/gate-acl.log"
}

# cms_start BIN SECRETS ADMIN_TOKEN DATABASE_URL PORT LOGS: ticketing-cms on its own database (which must
# exist), talking to $auth_url, $ticketing_url and $gate_url, times in UTC; sets $cms_url.
cms_start() {
  local bin="$1" secrets="$2" admin_token="$3" database_url="$4" port="$5" logs="$6"
  echo "  -> API key $(auth_api_key "$admin_token" ticketing-cms "$secrets/ticketing-cms.key" auth:introspect) for ticketing-cms (auth:introspect)"
  local env=(DATABASE_URL="$database_url" LOG_FORMAT=json AUTH_URL="$auth_url"
    AUTH_SERVICE_KEY_FILE="$secrets/ticketing-cms.key" TICKETING_URL="$ticketing_url" GATE_ACL_URL="$gate_url")
  env "${env[@]}" "$bin/ticketing-cms" migrate >>"$logs/migrate.log" 2>&1
  env "${env[@]}" LISTEN_ADDR="127.0.0.1:$port" "$bin/ticketing-cms" serve >>"$logs/cms.log" 2>&1 &
  pids+=($!)
  cms_url="http://127.0.0.1:$port"
  ready "$cms_url" "$logs/cms.log"
}
