-- The delivery stage: claims with a lease, urgency and deadline order, retries over a horizon, dead letters.
ALTER TABLE notifier.deliveries
  ADD COLUMN urgency        text,
  ADD COLUMN priority       smallint NOT NULL DEFAULT 1,  -- 0 critical, 1 high, 2 medium, 3 low
  ADD COLUMN deliver_by     timestamptz,                  -- the case's SLA delivery deadline
  ADD COLUMN give_up_at     timestamptz,                  -- the retry horizon of the current drive
  ADD COLUMN lease_until    timestamptz,                  -- claimed by a notifier until then
  ADD COLUMN claimed_by     text,
  ADD COLUMN drive_attempts int NOT NULL DEFAULT 0,       -- attempts since creation or the last redelivery
  ADD COLUMN redeliveries   int NOT NULL DEFAULT 0,
  ADD COLUMN last_error     text,
  ADD COLUMN failed_at      timestamptz;                  -- dead-lettered (status 'failed') at

UPDATE notifier.deliveries SET
  urgency = payload #>> '{case,urgency}',
  priority = CASE payload #>> '{case,urgency}' WHEN 'critical' THEN 0 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 1 END,
  deliver_by = (payload #>> '{case,sla,deliver_by}')::timestamptz,
  drive_attempts = attempts;

DROP INDEX IF EXISTS notifier.deliveries_due;
-- The claim: pending rows, most urgent, nearest deadline, longest due first.
CREATE INDEX deliveries_claim ON notifier.deliveries (priority, deliver_by, next_attempt_at) WHERE status = 'pending';
-- What operators list: the dead-lettered deliveries.
CREATE INDEX deliveries_dead ON notifier.deliveries (failed_at) WHERE status = 'failed';

-- One row per real attempt, written when it starts (attempt number claimed with the lease) and completed
-- with its result; an attempt whose notifier died mid-send is closed as such when the lease is taken over.
ALTER TABLE notifier.attempts
  ALTER COLUMN duration_ms DROP NOT NULL,
  ADD COLUMN claimed_by  text,
  ADD COLUMN finished_at timestamptz;
UPDATE notifier.attempts SET finished_at = attempted_at;
CREATE INDEX attempts_delivery ON notifier.attempts (delivery_id, attempt);
