-- Each routed case's escalation list as triage signed it (case.routed): whom the case may go to, at which
-- disclosure level, should its holder miss an SLA deadline. A partner on it becomes a recipient (in
-- case_deliveries, with that level) only when case.sla_breached says the case was escalated to it.
CREATE TABLE intake.case_escalation (
  case_ref    text NOT NULL REFERENCES intake.cases ON DELETE CASCADE,
  partner_id  text NOT NULL,
  disclosure  text NOT NULL,
  PRIMARY KEY (case_ref, partner_id)
);
