-- The operators' dashboard: a read model projected from the case topics (rebuildable from a replay), and the
-- dashboard's own state (alert acknowledgements, sessions, the audit of case views), which a rebuild keeps.
SELECT public.create_runtime_tables('dashboard');
-- A value the runtime sets aside is sealed with the data key when the service has one.
ALTER TABLE dashboard.dead_letters ADD COLUMN value_sealed boolean NOT NULL DEFAULT false;

-- One row per case, filled in as its events arrive (in any order). No contact details: events carry none.
CREATE TABLE dashboard.cases (
  case_ref          text PRIMARY KEY,
  partner_id        text,
  received_at       timestamptz,
  country_of_work   text,
  country_of_origin text,
  sector            text,
  employer          text,
  recruiter         text,
  language          text,
  channel           text,
  urgency           text,
  categories        text[],
  indicators        text[],
  needs_review      boolean,
  summary           text,
  triaged_at        timestamptz,
  deliver_by        timestamptz,
  acknowledge_by    timestamptz,
  routed_at         timestamptz,
  primary_partner   text,
  recipients        text[],
  first_delivered_at timestamptz,
  acknowledged_at   timestamptz,
  case_state        text,
  state_seq         int  -- the case.updated sequence case_state comes from: a late older step does not win
);
CREATE INDEX cases_received ON dashboard.cases (received_at);
CREATE INDEX cases_unacknowledged ON dashboard.cases (received_at)
  WHERE acknowledged_at IS NULL AND urgency IN ('critical', 'high');
CREATE INDEX cases_employer ON dashboard.cases (lower(employer)) WHERE employer IS NOT NULL;
CREATE INDEX cases_recruiter ON dashboard.cases (lower(recruiter)) WHERE recruiter IS NOT NULL;

-- Everything that happened to a case, one row per event (its id makes a replayed event a no-op).
CREATE TABLE dashboard.timeline (
  id        bigserial PRIMARY KEY,
  event_id  text NOT NULL UNIQUE,
  case_ref  text NOT NULL,
  at        timestamptz NOT NULL,
  kind      text NOT NULL,
  detail    jsonb NOT NULL
);
CREATE INDEX timeline_case ON dashboard.timeline (case_ref, at);

-- One row per delivery outcome event, for success and failure per partner and submit→delivered latency.
CREATE TABLE dashboard.deliveries (
  event_id    text PRIMARY KEY,
  case_ref    text NOT NULL,
  recipient   text NOT NULL,
  outcome     text NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gave_up')),
  channel     text NOT NULL,
  attempts    int NOT NULL,
  at          timestamptz NOT NULL
);
CREATE INDEX deliveries_at ON dashboard.deliveries (at);
CREATE INDEX deliveries_case ON dashboard.deliveries (case_ref);

CREATE TABLE dashboard.alerts (
  event_id   text PRIMARY KEY,
  case_ref   text,
  kind       text NOT NULL,
  urgency    text NOT NULL,
  message    text NOT NULL,
  service    text,
  topic      text,
  raised_at  timestamptz NOT NULL
);
CREATE INDEX alerts_raised ON dashboard.alerts (raised_at);

-- SLA breaches (case.sla_breached).
CREATE TABLE dashboard.breaches (
  event_id     text PRIMARY KEY,
  case_ref     text NOT NULL,
  recipient    text NOT NULL,
  clock        text NOT NULL,
  deadline     timestamptz NOT NULL,
  breached_at  timestamptz NOT NULL,
  escalated_to text,
  urgency      text NOT NULL
);
CREATE INDEX breaches_at ON dashboard.breaches (breached_at);

-- Records the pipeline's consumer groups set aside (their `<group>.dlq` topics). The value stays as it came
-- (sealed by the group that set it aside when it had a data key), for a requeue; the page never shows it.
CREATE TABLE dashboard.dlq_records (
  id                bigserial PRIMARY KEY,
  dlq_topic         text NOT NULL,
  kafka_partition   int NOT NULL,
  kafka_offset      bigint NOT NULL,
  original_topic    text,
  original_partition int,
  original_offset   bigint,
  consumer_group    text,
  case_ref          text,
  event_id          text,
  error_class       text,
  error_message     text,
  key               bytea,
  value             bytea,
  headers           jsonb NOT NULL,
  set_aside_at      timestamptz NOT NULL,
  UNIQUE (dlq_topic, original_topic, original_partition, original_offset, event_id)
);
CREATE INDEX dlq_records_at ON dashboard.dlq_records (set_aside_at);

-- The dashboard's own state: not projected, kept by a rebuild.
CREATE TABLE dashboard.alert_acks (
  event_id        text PRIMARY KEY,
  acknowledged_by text NOT NULL,
  acknowledged_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dashboard.requeues (
  id           bigserial PRIMARY KEY,
  dlq_record   bigint NOT NULL,
  requeued_by  text NOT NULL,
  requeued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requeues_record ON dashboard.requeues (dlq_record);

CREATE TABLE dashboard.sessions (
  token_sha256 text PRIMARY KEY,
  user_id      text NOT NULL,
  role         text NOT NULL,
  csrf         text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON dashboard.sessions (expires_at);

-- Who looked at which case, and what else they did; only admins see it.
CREATE TABLE dashboard.audit (
  id       bigserial PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  user_id  text NOT NULL,
  role     text NOT NULL,
  action   text NOT NULL,
  target   text NOT NULL
);
CREATE INDEX audit_at ON dashboard.audit (at);
