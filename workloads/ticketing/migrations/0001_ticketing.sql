-- ticketing-service's own tables (the outbox and processed_messages come from microfleet-common).
-- Money is an integer amount in the currency's smallest unit (rupiah in the seed).

CREATE TABLE merchants (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (name <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE payment_methods (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
INSERT INTO payment_methods (code, name) VALUES ('CASH', 'Cash'), ('BANK_TRANSFER', 'Bank transfer');

-- approval holds waiting/approved; "expired" is derived from ends_at when read
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    merchant_id BIGINT NOT NULL REFERENCES merchants (id),
    name TEXT NOT NULL CHECK (name <> ''),
    venue TEXT NOT NULL CHECK (venue <> ''),
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    sale_starts_at TIMESTAMPTZ NOT NULL,
    sale_ends_at TIMESTAMPTZ NOT NULL,
    approval TEXT NOT NULL DEFAULT 'waiting' CHECK (approval IN ('waiting', 'approved')),
    approved_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (starts_at < ends_at),
    CHECK (sale_starts_at < sale_ends_at AND sale_ends_at <= ends_at)
);

-- sold counts seats held by pending and paid orders; the CHECK is the last line against overselling
CREATE TABLE areas (
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL REFERENCES events (id),
    name TEXT NOT NULL CHECK (name <> ''),
    capacity INTEGER NOT NULL CHECK (capacity > 0),
    sold INTEGER NOT NULL DEFAULT 0,
    price BIGINT NOT NULL CHECK (price >= 0),
    UNIQUE (event_id, name),
    CHECK (sold >= 0 AND sold <= capacity)
);
CREATE INDEX areas_event ON areas (event_id);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    event_id BIGINT NOT NULL REFERENCES events (id),
    payment_method TEXT NOT NULL REFERENCES payment_methods (code),
    customer_email TEXT NOT NULL,
    total_price BIGINT NOT NULL CHECK (total_price >= 0),
    payment_received BIGINT NOT NULL DEFAULT 0 CHECK (payment_received >= 0),
    checked_out BOOLEAN NOT NULL DEFAULT false,
    paid BOOLEAN NOT NULL DEFAULT false,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'paid', 'expired', 'refunding', 'refunded')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    paid_at TIMESTAMPTZ,
    expired_at TIMESTAMPTZ
);
CREATE INDEX orders_pending_expiry ON orders (expires_at) WHERE state = 'pending';

CREATE TABLE order_items (
    order_id BIGINT NOT NULL REFERENCES orders (id),
    area_id BIGINT NOT NULL REFERENCES areas (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price BIGINT NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, area_id)
);

-- one ticket per seat, issued when the order is paid; its id is what the gate-acl service will sign
CREATE TABLE tickets (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id BIGINT NOT NULL REFERENCES orders (id),
    area_id BIGINT NOT NULL REFERENCES areas (id),
    state TEXT NOT NULL DEFAULT 'issued' CHECK (state IN ('issued', 'active', 'revoking', 'revoked')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tickets_order ON tickets (order_id);

-- one refund per order; it completes once the gate-acl service has revoked the order's access
CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'refunded')),
    created_at TIMESTAMPTZ NOT NULL
);
