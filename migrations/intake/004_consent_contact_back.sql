-- The worker's consent to be contacted back about the case. `false` keeps contact details from every
-- recipient, whatever `consent_share` says; older rows took the submission's default (true).
ALTER TABLE intake.contacts ADD COLUMN consent_contact_back boolean NOT NULL DEFAULT true;
