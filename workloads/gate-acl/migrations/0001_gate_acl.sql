-- gate-acl-service's own tables (the outbox and processed_messages come from microfleet-common).
-- Event and area ids are the ticketing service's; ticket ids are its UUIDs.

CREATE TABLE events (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL CHECK (name <> ''),
    reentry_allowed BOOLEAN NOT NULL DEFAULT false,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE areas (
    event_id BIGINT NOT NULL REFERENCES events (id),
    area_id BIGINT NOT NULL,
    name TEXT NOT NULL CHECK (name <> ''),
    PRIMARY KEY (event_id, area_id)
);

CREATE TABLE gates (
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events (id),
    name TEXT NOT NULL CHECK (name <> ''),
    UNIQUE (event_id, name)
);

-- which areas a gate admits: only areas of the gate's own event
CREATE TABLE gate_areas (
    gate_id BIGINT NOT NULL REFERENCES gates (id),
    event_id BIGINT NOT NULL,
    area_id BIGINT NOT NULL,
    PRIMARY KEY (gate_id, area_id),
    FOREIGN KEY (event_id, area_id) REFERENCES areas (event_id, area_id)
);

-- one entry per ticket; `inside` and `entries` are changed only by an allowed scan, under the row's lock
CREATE TABLE access_entries (
    ticket_id UUID PRIMARY KEY,
    event_id BIGINT NOT NULL,
    area_id BIGINT NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_until TIMESTAMPTZ NOT NULL,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    inside BOOLEAN NOT NULL DEFAULT false,
    entries INTEGER NOT NULL DEFAULT 0 CHECK (entries >= 0),
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    FOREIGN KEY (event_id, area_id) REFERENCES areas (event_id, area_id),
    CHECK (valid_from < valid_until),
    CHECK (NOT inside OR entries > 0)
);

CREATE TABLE staff (
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events (id),
    name TEXT NOT NULL CHECK (name <> ''),
    role TEXT NOT NULL CHECK (role IN ('security', 'usher', 'steward', 'medic', 'supervisor')),
    valid_from TIMESTAMPTZ NOT NULL,
    valid_until TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (valid_from < valid_until)
);

-- work windows; only approved ones let a staff member in
CREATE TABLE shifts (
    id BIGSERIAL PRIMARY KEY,
    staff_id BIGINT NOT NULL REFERENCES staff (id),
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    approved_at TIMESTAMPTZ,
    CHECK (starts_at < ends_at)
);
CREATE INDEX shifts_staff ON shifts (staff_id, starts_at);

-- every scan that reached the access list, keyed by (device, nonce): a re-sent scan gets `answer` again.
-- `fingerprint` is the SHA-256 of what was asked, so a reused nonce for another scan is refused.
CREATE TABLE scans (
    id BIGSERIAL PRIMARY KEY,
    device_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    gate_id BIGINT NOT NULL REFERENCES gates (id),
    kind TEXT NOT NULL CHECK (kind IN ('ticket', 'staff')),
    subject TEXT NOT NULL,
    direction TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
    result TEXT NOT NULL CHECK (result IN ('allow', 'deny')),
    reason TEXT NOT NULL,
    scanned_at TIMESTAMPTZ NOT NULL,
    answered_at TIMESTAMPTZ NOT NULL,
    answer JSONB NOT NULL,
    UNIQUE (device_id, nonce)
);
CREATE INDEX scans_subject ON scans (subject, id);
