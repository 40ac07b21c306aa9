-- SLA clocks (services/notifier/sla_watcher.py): per case what escalation needs, per holder its clocks.
-- The routed case is kept as triage published it (the case view: no contact details) so an escalation
-- delivery is built like any other; `escalation` is its ordered list, `escalated` how many have had it.
CREATE TABLE notifier.sla_cases (
  case_ref    text PRIMARY KEY,
  urgency     text NOT NULL,
  routed      jsonb NOT NULL,
  escalation  jsonb NOT NULL DEFAULT '[]',
  escalated   int NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per clock a holder runs. `round` tells restarted clocks apart: a progress clock restarts at
-- each step (the step's sequence in the case). A running clock stops at the step (or delivery) it waits
-- for; one that reaches due_at first is breached once, by whichever watcher claims it.
CREATE TABLE notifier.sla_clocks (
  id            bigserial PRIMARY KEY,
  case_ref      text NOT NULL REFERENCES notifier.sla_cases ON DELETE CASCADE,
  recipient     text NOT NULL,
  clock         text NOT NULL CHECK (clock IN ('delivery', 'acknowledgement', 'acceptance', 'progress')),
  round         int NOT NULL DEFAULT 0,
  started_at    timestamptz NOT NULL,
  due_at        timestamptz NOT NULL,
  status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped', 'breached')),
  stopped_at    timestamptz,
  breached_at   timestamptz,
  escalated_to  text,
  UNIQUE (case_ref, recipient, clock, round)
);
CREATE INDEX sla_clocks_due ON notifier.sla_clocks (due_at) WHERE status = 'running';

-- Each holder's latest lifecycle state from case.updated, so a step heard before its case.routed (two
-- topics, no order between them) still decides which clock the holder runs.
CREATE TABLE notifier.sla_states (
  case_ref   text NOT NULL,
  recipient  text NOT NULL,
  state      text NOT NULL,
  sequence   int NOT NULL,
  PRIMARY KEY (case_ref, recipient)
);
