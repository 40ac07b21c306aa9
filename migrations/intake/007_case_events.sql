-- A case's lifecycle after delivery (services/intake/lifecycle.py): every step a recipient reports, in
-- order, with the recipient's state before and after and the case's state after. A recipient's current
-- state is its latest step's `state` (no step: `routed`). The note is the partner's free text, sealed with
-- the data vault and shown only to the recipient that wrote it. `idempotency_key` is the partner's
-- Idempotency-Key header, else the step's type and `at` when the partner gave one.
-- `id` is for batch jobs (rekeying the sealed notes) that walk a table by one key.
CREATE TABLE intake.case_events (
  id               bigserial NOT NULL UNIQUE,
  case_ref         text NOT NULL REFERENCES intake.cases ON DELETE CASCADE,
  sequence         int NOT NULL,
  recipient        text NOT NULL,
  type             text NOT NULL,
  previous_state   text NOT NULL,
  state            text NOT NULL,
  case_state       text NOT NULL,
  reason           text,
  outcome          text,
  note_sealed      bytea,
  at               timestamptz NOT NULL,
  recorded_at      timestamptz NOT NULL DEFAULT now(),
  idempotency_key  text,
  PRIMARY KEY (case_ref, sequence),
  UNIQUE (case_ref, recipient, idempotency_key)
);

-- The worker's language as triage read it (grievance.triaged), for the status messages back to the worker.
ALTER TABLE intake.cases ADD COLUMN language text;
