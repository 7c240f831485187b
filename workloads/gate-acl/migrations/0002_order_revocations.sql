-- The ticketing orders the saga prepared or revoked access for. Both consumers upsert the order's row first,
-- which locks it: a prepare and a revocation of one order run one after the other, never interleaved. Once
-- `revoked_at` is set, a prepare arriving later (out of order, or retried) creates revoked entries only.
CREATE TABLE orders (
    number TEXT PRIMARY KEY CHECK (number <> ''),
    revoked_at TIMESTAMPTZ
);

-- the order a saga-prepared entry belongs to (NULL for access prepared over HTTP)
ALTER TABLE access_entries ADD COLUMN order_number TEXT REFERENCES orders (number);
CREATE INDEX access_entries_order ON access_entries (order_number);
