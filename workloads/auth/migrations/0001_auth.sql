-- auth-service's own tables: the User DB and the Auth DB of seed 004 in one database owned by this service.
-- No secret is stored in the clear: passwords as Argon2id PHC strings, refresh tokens and API keys as SHA-256.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    username TEXT NOT NULL UNIQUE CHECK (username <> ''),
    email TEXT NOT NULL UNIQUE CHECK (email <> ''),
    phone TEXT,
    confirmed BOOLEAN NOT NULL DEFAULT false,
    roles TEXT[] NOT NULL DEFAULT '{}',
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- failed logins per client address in the current window (the per-address rate limit)
CREATE TABLE address_failures (
    address TEXT PRIMARY KEY,
    window_started_at TIMESTAMPTZ NOT NULL,
    failures INTEGER NOT NULL CHECK (failures >= 0)
);

-- refresh tokens: one-time use; a family is one login's chain of rotations
CREATE TABLE refresh_tokens (
    id BIGSERIAL PRIMARY KEY,
    token_hash BYTEA NOT NULL UNIQUE,
    family TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id),
    issued_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);

-- API keys of services and gate devices: `mf_<prefix>_<secret>`, found by prefix, checked by hash
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    prefix TEXT NOT NULL UNIQUE,
    key_hash BYTEA NOT NULL,
    name TEXT NOT NULL CHECK (name <> ''),
    scopes TEXT[] NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

-- every grant, refusal and revocation; never a secret
CREATE TABLE audit_events (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    subject TEXT,
    address TEXT,
    reason TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
