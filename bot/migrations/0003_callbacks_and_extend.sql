-- Provider callbacks, and what extending a finished video needs.

-- Per-job secret carried in the callback URL; a callback without it changes nothing.
ALTER TABLE jobs ADD COLUMN callback_token TEXT;
-- The provider's id of the finished video (Kling's video_id), needed to extend it.
ALTER TABLE jobs ADD COLUMN provider_video_id TEXT;
-- The job whose video this one continues.
ALTER TABLE jobs ADD COLUMN parent_job_id TEXT REFERENCES jobs (id);
