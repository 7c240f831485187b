-- when a refund completed: the gate-acl service had revoked the order's access (its `access.revoked`)
ALTER TABLE refunds ADD COLUMN refunded_at TIMESTAMPTZ;
ALTER TABLE refunds ADD CONSTRAINT refund_completed_when CHECK ((state = 'refunded') = (refunded_at IS NOT NULL));
ALTER TABLE orders ADD COLUMN refunded_at TIMESTAMPTZ;
