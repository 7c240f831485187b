-- The client's own reference of an order (optional): a client that lost the answer to POST /v1/orders sends
-- the same request again with the same reference and gets the order it placed, not a second one.
ALTER TABLE orders ADD COLUMN client_reference TEXT CHECK (client_reference <> '');
ALTER TABLE orders ADD CONSTRAINT orders_event_client_reference UNIQUE (event_id, client_reference);
