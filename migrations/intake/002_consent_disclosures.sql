ALTER TABLE intake.contacts ADD COLUMN consent_changed_at timestamptz;

-- Every request to release a worker's contact details, granted or refused, and why.
CREATE TABLE intake.disclosures (
  id          bigserial PRIMARY KEY,
  case_ref    text NOT NULL,
  recipient   text NOT NULL,
  granted     boolean NOT NULL,
  reason      text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disclosures_case ON intake.disclosures (case_ref);

-- Who the worker complained about, so a release of contact details can be refused to them.
ALTER TABLE intake.cases ADD COLUMN employer text, ADD COLUMN recruiter text;
