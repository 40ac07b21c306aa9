-- A dead-lettered value is a Fernet token (services/common/vault.py) when value_sealed is true.
ALTER TABLE notifier.dead_letters ADD COLUMN value_sealed boolean NOT NULL DEFAULT false;
