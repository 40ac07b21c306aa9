-- What keeps the views fast with 100,000 cases in the read model (measured by `grievance bench dashboard`).
-- Flow's and Now's counts read this index alone (an index-only scan, far smaller than the case rows with
-- their summaries and arrays) instead of the table.
CREATE INDEX cases_flow ON dashboard.cases (received_at)
  INCLUDE (urgency, country_of_work, partner_id, first_delivered_at, acknowledged_at);
-- Now's "about to breach": unacknowledged cases by deadline, not every case of the range.
CREATE INDEX cases_due ON dashboard.cases (acknowledge_by) WHERE acknowledged_at IS NULL;
-- Flow's deliveries per partner, from the index alone.
CREATE INDEX deliveries_flow ON dashboard.deliveries (at) INCLUDE (recipient, outcome);
-- How many hours and days the cases span: without these the planner guesses one group per case and sorts
-- every case to count them, where a hash of a few hundred buckets does (queries.py buckets in UTC).
CREATE STATISTICS dashboard.cases_hour ON (date_trunc('hour', received_at AT TIME ZONE 'UTC')) FROM dashboard.cases;
CREATE STATISTICS dashboard.cases_day ON (date_trunc('day', received_at AT TIME ZONE 'UTC')) FROM dashboard.cases;
