-- Personal data in the copies intake keeps is sealed with the data vault (services/common/vault.py):
-- a rejected body and a dead-lettered value are Fernet tokens when *_sealed is true. Rows kept before
-- stay readable as they are until `grievance rekey` seals them.
ALTER TABLE intake.rejected_submissions ADD COLUMN body_sealed boolean NOT NULL DEFAULT false;
-- The bound is on what was sent (64 KiB); its token is larger (87,480 bytes for 64 KiB).
ALTER TABLE intake.rejected_submissions DROP CONSTRAINT rejected_body_bounded;
ALTER TABLE intake.rejected_submissions
  ADD CONSTRAINT rejected_body_bounded
  CHECK (octet_length(body) <= CASE WHEN body_sealed THEN 87480 ELSE 65536 END) NOT VALID;
ALTER TABLE intake.dead_letters ADD COLUMN value_sealed boolean NOT NULL DEFAULT false;

-- A case erased on request or by retention (`grievance erase`): what was removed, never what it said.
CREATE TABLE intake.erasures (
  id         bigserial PRIMARY KEY,
  case_ref   text NOT NULL,
  reason     text NOT NULL,
  actor      text NOT NULL,
  removed    jsonb NOT NULL,
  erased_at  timestamptz NOT NULL DEFAULT now()
);
