-- Admin actions and moderation share one append-only log (moderation_log), which is also what
-- the audit-log channel is fed from; the older `audit` table's lines move there.
INSERT INTO moderation_log (guild_id, actor_id, action, detail, created_at)
SELECT guild_id, user_id, action, detail, created_at FROM audit WHERE guild_id IS NOT NULL;
DROP TABLE audit;
