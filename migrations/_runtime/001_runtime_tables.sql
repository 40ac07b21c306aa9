-- The tables every service's runtime needs, created inside that service's own schema:
-- processed event ids (idempotent consumers), the transactional outbox, and dead letters.
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
END $$;
