-- How a result reached the member when it needed help (re-encoded to fit, or linked).
ALTER TABLE jobs ADD COLUMN delivery_note TEXT;
-- Who cancelled a job (the owner or a moderator).
ALTER TABLE jobs ADD COLUMN cancelled_by INTEGER;
