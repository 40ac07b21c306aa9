-- The disclosure triage recorded for each recipient (from signed case.routed events): a request for a
-- worker's contact details is checked against it, so only a recipient triage chose, at `full`, can get
-- them. Rows projected before this column existed have none, and are refused until routed again.
ALTER TABLE intake.case_deliveries ADD COLUMN routed_disclosure text;
