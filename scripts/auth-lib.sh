#!/usr/bin/env bash
# Shared by scripts/ticketing-demo.sh and bench-ticketing.sh: the auth service the ticketing services
# authenticate through — started with a bootstrap admin on its own database — and what they need from it,
# made through its HTTP API: an access token, API keys with scopes. Secrets are written to files readable by
# their owner only (as mounted Secrets would be), never printed. Needs curl and python3.
# Sourced, not run; defines functions only.

# auth_start BIN DIR DATABASE_URL PORT LOG: writes a signing key and the admin's password into DIR (0600),
# migrates (creating the bootstrap admin `admin`), serves on 127.0.0.1:PORT in the background (its PID in
# $auth_pid) and waits for /readyz. Access tokens live an hour.
auth_start() {
  local bin="$1" dir="$2" database_url="$3" port="$4" log="$5"
  mkdir -p "$dir"
  (umask 077 && head -c 32 /dev/urandom | base64 >"$dir/signing.key" && head -c 18 /dev/urandom | base64 >"$dir/admin-password")
  local env=(DATABASE_URL="$database_url" SIGNING_KEY_FILES="$dir/signing.key" BOOTSTRAP_ADMIN_USERNAME=admin
    BOOTSTRAP_ADMIN_PASSWORD_FILE="$dir/admin-password" ACCESS_TOKEN_TTL_SECONDS=3600 LOG_FORMAT=json)
  env "${env[@]}" "$bin/auth-service" migrate >>"$log" 2>&1
  env "${env[@]}" LISTEN_ADDR="127.0.0.1:$port" "$bin/auth-service" serve >>"$log" 2>&1 &
  auth_pid=$!
  auth_url="http://127.0.0.1:$port"
  for _ in $(seq 300); do curl -sf "$auth_url/readyz" >/dev/null && return 0; sleep 0.2; done
  echo "auth-service on $auth_url is not ready: see $log" >&2
  return 1
}

# auth_json FIELD: the field of the JSON object on stdin
auth_json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# auth_login USERNAME PASSWORD_FILE: prints an access token of the user
auth_login() {
  python3 -c 'import json, sys; print(json.dumps({"username": sys.argv[1], "password": open(sys.argv[2]).read().strip()}))' "$1" "$2" |
    curl -sf -X POST "$auth_url/v1/login" -H 'content-type: application/json' --data @- | auth_json accessToken
}

# auth_api_key TOKEN NAME FILE SCOPE...: creates an API key (by TOKEN, holding auth:keys) and writes it to FILE
# (0600); prints its visible prefix
auth_api_key() {
  local token="$1" name="$2" file="$3"
  shift 3
  local body answer
  body="$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "scopes": sys.argv[2:]}))' "$name" "$@")"
  answer="$(curl -sf -X POST "$auth_url/v1/api-keys" -H "authorization: Bearer $token" -H 'content-type: application/json' --data "$body")"
  (umask 077 && auth_json key <<<"$answer" >"$file")
  auth_json prefix <<<"$answer"
}
