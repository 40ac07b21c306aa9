SELECT public.create_runtime_tables('triage');

-- The input and outcome of every triage, so decisions can be explained and re-run (what-if).
CREATE TABLE triage.decisions (
  case_ref     text PRIMARY KEY,
  input        jsonb NOT NULL,
  urgency      text NOT NULL,
  categories   jsonb NOT NULL,
  indicators   jsonb NOT NULL,
  decision     jsonb NOT NULL,
  routing      jsonb NOT NULL,
  ruleset      text NOT NULL,
  triaged_at   timestamptz NOT NULL DEFAULT now()
);
