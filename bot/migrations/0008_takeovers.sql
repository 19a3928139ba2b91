-- Who held a job's lease when it was last claimed: not NULL means the claim took the step over
-- from a process whose lease lapsed (or from this instance's earlier life).
ALTER TABLE jobs ADD COLUMN taken_from TEXT;
