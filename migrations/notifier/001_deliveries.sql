SELECT public.create_runtime_tables('notifier');

-- One row per (case, recipient): the unique key is what makes "never notify twice" hold.
CREATE TABLE notifier.deliveries (
  id              bigserial PRIMARY KEY,
  case_ref        text NOT NULL,
  recipient       text NOT NULL,
  channel         text NOT NULL,
  payload         jsonb NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  UNIQUE (case_ref, recipient)
);
CREATE INDEX deliveries_due ON notifier.deliveries (next_attempt_at) WHERE status = 'pending';

-- Every attempt, for audit and for the dashboard's failure view.
CREATE TABLE notifier.attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  bigint NOT NULL REFERENCES notifier.deliveries ON DELETE CASCADE,
  attempt      int NOT NULL,
  status_code  int,
  error        text,
  duration_ms  int NOT NULL,
  attempted_at timestamptz NOT NULL DEFAULT now()
);
