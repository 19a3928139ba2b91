-- Every job step is a guarded transition: a claim (lease owner + version) taken in the same
-- statement that finds the step due, and a commit that only lands while the claim still holds.

-- Bumped by every claim and every transition; a commit names the version its claim saw.
ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
-- Which process holds the job's current step. The lease ends at the step's due time:
-- `next_poll_at` for submit and poll, `deliver_at` for delivery, so expiry needs no column.
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
-- Delivery has states of its own, claimed before anything is downloaded or sent.
ALTER TABLE jobs ADD COLUMN delivery_state TEXT
    CHECK (delivery_state IN ('pending', 'delivering', 'delivered', 'parked'));
ALTER TABLE jobs ADD COLUMN deliver_at REAL;
ALTER TABLE jobs ADD COLUMN delivery_attempts INTEGER NOT NULL DEFAULT 0;
-- Set by the claim when the attempt before may have reached Discord (its process died, or it
-- ended without Discord's answer): then the bot looks for it before posting again.
ALTER TABLE jobs ADD COLUMN may_have_sent INTEGER NOT NULL DEFAULT 0;
-- How often a result that could not be fetched was asked of the provider again.
ALTER TABLE jobs ADD COLUMN result_fetches INTEGER NOT NULL DEFAULT 0;

UPDATE jobs SET delivery_state = 'delivered' WHERE delivered_at IS NOT NULL;
UPDATE jobs SET delivery_state = 'pending', deliver_at = 0
    WHERE delivered_at IS NULL AND state IN ('succeeded', 'failed', 'cancelled');
-- A submit in flight before this version had no owner: due now, so the runner recovers it.
UPDATE jobs SET next_poll_at = 0 WHERE state = 'submitting';

-- What the runner reads on each wake: only the due rows, through these two partial indexes.
CREATE INDEX jobs_step_due ON jobs (next_poll_at)
    WHERE state IN ('queued', 'submitting', 'running');
CREATE INDEX jobs_delivery_due ON jobs (deliver_at)
    WHERE delivery_state IN ('pending', 'delivering');
CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
DROP INDEX IF EXISTS jobs_undelivered;
