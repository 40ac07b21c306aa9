SELECT public.create_runtime_tables('intake');

-- One row per accepted complaint; (partner_id, external_id) is the resubmit-dedupe key.
CREATE TABLE intake.cases (
  case_ref        text PRIMARY KEY,
  partner_id      text NOT NULL,
  external_id     text NOT NULL,
  subject_ref     text NOT NULL,
  source          text NOT NULL CHECK (source IN ('http', 'kafka')),
  urgency         text,
  categories      jsonb,
  received_at     timestamptz NOT NULL DEFAULT now(),
  triaged_at      timestamptz,
  UNIQUE (partner_id, external_id)
);

-- Contact details never leave this schema; they are stored encrypted (Fernet, key outside the DB).
CREATE TABLE intake.contacts (
  case_ref      text PRIMARY KEY REFERENCES intake.cases ON DELETE CASCADE,
  ciphertext    bytea NOT NULL,
  consent_share boolean NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- Per-recipient delivery state from the routed and notification events; a case's status is derived
-- from these rows and cases.triaged_at when read, so events arriving out of order cannot regress it.
CREATE TABLE intake.case_deliveries (
  case_ref     text NOT NULL REFERENCES intake.cases ON DELETE CASCADE,
  recipient    text NOT NULL,
  channel      text NOT NULL,
  status       text NOT NULL,
  attempts     int NOT NULL,
  detail       text,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (case_ref, recipient)
);

-- Submissions that failed validation, kept for operators to inspect and replay.
CREATE TABLE intake.rejected_submissions (
  id           bigserial PRIMARY KEY,
  source       text NOT NULL,
  source_ref   text NOT NULL UNIQUE,
  partner_id   text,
  external_id  text,
  body         bytea NOT NULL,
  errors       jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
