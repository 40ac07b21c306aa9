-- What is kept of a rejected body is bounded: at most its first 64 KiB, with the size the client sent
-- (or declared, for a body refused unread) and, when it was read whole, its SHA-256.
ALTER TABLE intake.rejected_submissions
  ADD COLUMN body_size      bigint,
  ADD COLUMN body_sha256    text,
  ADD COLUMN body_truncated boolean NOT NULL DEFAULT false;
-- NOT VALID: rows kept before this migration may be larger; every new one is checked.
ALTER TABLE intake.rejected_submissions
  ADD CONSTRAINT rejected_body_bounded CHECK (octet_length(body) <= 65536) NOT VALID;
