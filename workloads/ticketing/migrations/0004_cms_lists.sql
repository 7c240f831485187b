-- What the CMS's lists and dashboard need: payment methods that can be disabled (new orders may not use a
-- disabled one; orders placed with it keep it), and indexes for the lists' filters and the stats' days.
ALTER TABLE payment_methods ADD COLUMN enabled BOOLEAN NOT NULL DEFAULT true;
CREATE INDEX events_merchant ON events (merchant_id);
CREATE INDEX orders_event ON orders (event_id, id);
CREATE INDEX orders_paid_at ON orders (paid_at) WHERE paid_at IS NOT NULL;
