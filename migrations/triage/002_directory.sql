-- The partner directory, owned by triage (routing decides with it). Intake reads API key digests and the
-- notifier reads delivery channels from here; only triage writes, through its admin API or the loader.
CREATE TABLE triage.partners (
  id          text PRIMARY KEY,
  record      jsonb NOT NULL,
  version     int NOT NULL DEFAULT 1,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL
);

-- Every change, who made it, and the record before and after (secrets redacted).
CREATE TABLE triage.directory_changes (
  id          bigserial PRIMARY KEY,
  partner_id  text NOT NULL,
  action      text NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
  actor       text NOT NULL,
  before      jsonb,
  after       jsonb,
  changed_at  timestamptz NOT NULL DEFAULT now()
);

-- Employers, recruiters and sites named in complaints, linked across partners by normalised name.
CREATE TABLE triage.case_entities (
  case_ref      text NOT NULL,
  role          text NOT NULL CHECK (role IN ('employer', 'recruiter')),
  entity_key    text NOT NULL,
  name          text NOT NULL,
  partner_id    text NOT NULL,
  country       text,
  urgency       text NOT NULL,
  PRIMARY KEY (case_ref, role)
);
CREATE INDEX case_entities_key ON triage.case_entities (entity_key, role);
