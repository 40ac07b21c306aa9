-- Employers and recruiters linked across partners by their name key (services/common/names.py: one company
-- whatever the spelling), as triage links them; cases projected before this have none until a rebuild, and
-- the Patterns view falls back to their lower-cased name.
ALTER TABLE dashboard.cases ADD COLUMN employer_key text, ADD COLUMN recruiter_key text;

-- Failed sign-ins, for the login rate limit (per account and per client address over a window). Old rows
-- are pruned as new ones are written.
CREATE TABLE dashboard.login_failures (
  id        bigserial PRIMARY KEY,
  user_id   text NOT NULL,
  client    text NOT NULL,
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_user ON dashboard.login_failures (user_id, at);
CREATE INDEX login_failures_client ON dashboard.login_failures (client, at);
CREATE INDEX login_failures_at ON dashboard.login_failures (at);
