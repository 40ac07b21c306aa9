-- Dead letters are kept once per record (a replayed batch or a requeued record that fails again counts
-- another attempt); outbox rows are kept after publishing, for re-driving what a broker lost; processed
-- ids are pruned by age. The function creates the new shape for new schemas; the block below brings
-- schemas created by 001 up to it.
CREATE OR REPLACE FUNCTION public.upgrade_runtime_tables(svc text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %I.dead_letters ADD COLUMN IF NOT EXISTS dedupe_key text', svc);
  EXECUTE format('UPDATE %I.dead_letters SET dedupe_key = %L || id WHERE dedupe_key IS NULL', svc, 'legacy:');
  EXECUTE format('ALTER TABLE %I.dead_letters ALTER COLUMN dedupe_key SET NOT NULL', svc);
  EXECUTE format('ALTER TABLE %I.dead_letters ADD COLUMN IF NOT EXISTS attempts int NOT NULL DEFAULT 1', svc);
  EXECUTE format('ALTER TABLE %I.dead_letters ADD COLUMN IF NOT EXISTS last_failed_at timestamptz', svc);
  EXECUTE format('ALTER TABLE %I.dead_letters ADD COLUMN IF NOT EXISTS requeued_at timestamptz', svc);
  EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_once ON %I.dead_letters (consumer_group, dedupe_key)', svc);
  EXECUTE format('CREATE INDEX IF NOT EXISTS processed_events_age ON %I.processed_events (processed_at)', svc);
  EXECUTE format('ALTER TABLE %I.outbox ADD COLUMN IF NOT EXISTS published_at timestamptz', svc);
  EXECUTE format('CREATE INDEX IF NOT EXISTS outbox_unpublished ON %I.outbox (id) WHERE published_at IS NULL', svc);
  EXECUTE format('CREATE INDEX IF NOT EXISTS outbox_published ON %I.outbox (published_at) WHERE published_at IS NOT NULL', svc);
  -- The broker's id of each topic when this service last saw it: a topic recreated while the service was
  -- down shows up under a new id, so the loss is noticed even across restarts.
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I.broker_topics (topic text PRIMARY KEY, topic_id text NOT NULL,'
                 ' seen_at timestamptz NOT NULL DEFAULT now())', svc);
END $$;

-- Schemas created from now on get the new shape too.
CREATE OR REPLACE FUNCTION public.create_runtime_tables(svc text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', svc);
  EXECUTE format($f$
    CREATE TABLE IF NOT EXISTS %I.processed_events (
      consumer_group text NOT NULL,
      event_id       text NOT NULL,
      processed_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer_group, event_id))$f$, svc);
  EXECUTE format($f$
    CREATE TABLE IF NOT EXISTS %I.outbox (
      id         bigserial PRIMARY KEY,
      topic      text NOT NULL,
      key        bytea,
      value      bytea NOT NULL,
      headers    jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now())$f$, svc);
  EXECUTE format($f$
    CREATE TABLE IF NOT EXISTS %I.dead_letters (
      id             bigserial PRIMARY KEY,
      consumer_group text NOT NULL,
      topic          text NOT NULL,
      kafka_partition int NOT NULL,
      kafka_offset   bigint NOT NULL,
      key            bytea,
      value          bytea,
      headers        jsonb NOT NULL,
      error_class    text NOT NULL,
      error_message  text NOT NULL,
      created_at     timestamptz NOT NULL DEFAULT now())$f$, svc);
  PERFORM public.upgrade_runtime_tables(svc);
END $$;

DO $$
DECLARE svc text;
BEGIN
  FOR svc IN SELECT table_schema FROM information_schema.tables WHERE table_name = 'dead_letters' LOOP
    PERFORM public.upgrade_runtime_tables(svc);
  END LOOP;
END $$;
