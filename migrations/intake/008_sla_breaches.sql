-- SLA breaches of a case (case.sla_breached from the notifier), shown in its status: who missed which
-- deadline, and whom the case went to (NULL: no partner was left; operators were alerted).
CREATE TABLE intake.sla_breaches (
  case_ref      text NOT NULL REFERENCES intake.cases ON DELETE CASCADE,
  recipient     text NOT NULL,
  clock         text NOT NULL,
  deadline      timestamptz NOT NULL,
  breached_at   timestamptz NOT NULL,
  escalated_to  text,
  PRIMARY KEY (case_ref, recipient, clock, deadline)
);
