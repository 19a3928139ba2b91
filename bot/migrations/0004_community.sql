-- Community: who may generate where, blocked terms, bans, moderator approval, the moderation
-- log, showcases with votes, the server credit pool and themed events.

-- A server's community settings; no row means "everything open, approval off".
CREATE TABLE community_settings (
    guild_id                INTEGER PRIMARY KEY,
    moderators_channel_id   INTEGER,
    audit_channel_id        INTEGER,
    showcase_channel_id     INTEGER,
    approval_mode           TEXT NOT NULL DEFAULT 'off'
                            CHECK (approval_mode IN ('off', 'new_members', 'everyone')),
    -- 'new_members': members who joined fewer than this many days ago need approval.
    new_member_days         INTEGER NOT NULL DEFAULT 7 CHECK (new_member_days BETWEEN 1 AND 365),
    -- An undecided request is released after this long.
    approval_timeout_hours  INTEGER NOT NULL DEFAULT 24
                            CHECK (approval_timeout_hours BETWEEN 1 AND 168),
    -- Credits one member may draw from the pool per UTC day (0: members cannot draw).
    pool_daily_limit        INTEGER NOT NULL DEFAULT 25 CHECK (pool_daily_limit >= 0),
    updated_at              REAL NOT NULL,
    updated_by              INTEGER
);

-- Channels where videos may be made (none listed: everywhere). Threads follow their parent.
CREATE TABLE community_channels (
    guild_id    INTEGER NOT NULL,
    channel_id  INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- Roles allowed to make videos (none listed: everyone).
CREATE TABLE community_roles (
    guild_id    INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, role_id)
);

-- Blocked terms: whole words/phrases or (safe-subset) regular expressions, each with the name
-- members are told when it refuses their prompt. The term itself is never shown to members.
CREATE TABLE blocked_terms (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('word', 'pattern')),
    term        TEXT NOT NULL CHECK (length(term) BETWEEN 1 AND 200),
    name        TEXT NOT NULL COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 60),
    created_at  REAL NOT NULL,
    created_by  INTEGER,
    UNIQUE (guild_id, name),
    UNIQUE (guild_id, kind, term)
);

-- Members a moderator stopped from generating.
CREATE TABLE generation_bans (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    reason      TEXT,
    banned_by   INTEGER,
    created_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

-- Every moderation and admin action. Append-only except for the relay columns, which say
-- whether the line reached the audit-log channel it was meant for.
CREATE TABLE moderation_log (
    id                  INTEGER PRIMARY KEY,
    guild_id            INTEGER NOT NULL,
    actor_id            INTEGER,            -- NULL: the bot itself (expiry, event close)
    action              TEXT NOT NULL,
    target_user_id      INTEGER,
    job_id              TEXT,
    detail              TEXT NOT NULL,
    created_at          REAL NOT NULL,
    audit_channel_id    INTEGER,            -- the audit-log channel when it was written
    relayed_at          REAL,
    relay_error         TEXT
);
CREATE INDEX moderation_log_guild ON moderation_log (guild_id, id);
CREATE INDEX moderation_log_unrelayed ON moderation_log (id)
    WHERE audit_channel_id IS NOT NULL AND relayed_at IS NULL;
CREATE TRIGGER moderation_log_no_delete BEFORE DELETE ON moderation_log
BEGIN SELECT RAISE(ABORT, 'the moderation log is append-only'); END;
CREATE TRIGGER moderation_log_no_update
BEFORE UPDATE OF id, guild_id, actor_id, action, target_user_id, job_id, detail, created_at,
                 audit_channel_id ON moderation_log
BEGIN SELECT RAISE(ABORT, 'the moderation log is append-only'); END;

-- Jobs held for a moderator's decision; each request is decided at most once.
CREATE TABLE approval_requests (
    job_id          TEXT PRIMARY KEY REFERENCES jobs (id),
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,
    reason          TEXT NOT NULL,          -- why approval was needed
    state           TEXT NOT NULL
                    CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'withdrawn')),
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    decided_at      REAL,
    decided_by      INTEGER,
    decision_reason TEXT,
    message_id      INTEGER,                -- the request in the moderators' channel
    message_channel_id INTEGER,
    CHECK ((state = 'pending') = (decided_at IS NULL))
);
CREATE INDEX approval_pending ON approval_requests (expires_at) WHERE state = 'pending';

-- Shares: one per job; 'pending' waits for a moderator, 'ready' waits to be posted.
CREATE TABLE showcase_shares (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    job_id          TEXT NOT NULL UNIQUE REFERENCES jobs (id),
    user_id         INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'ready', 'posted', 'denied')),
    created_at      REAL NOT NULL,
    decided_by      INTEGER,
    decision_reason TEXT,
    review_message_id  INTEGER,             -- the approval request in the moderators' channel
    review_channel_id  INTEGER,
    channel_id      INTEGER,                -- where it was posted (forum: the thread)
    message_id      INTEGER,
    posted_at       REAL,
    CHECK ((state = 'posted') = (posted_at IS NOT NULL))
);
CREATE INDEX showcase_posted ON showcase_shares (guild_id, posted_at) WHERE state = 'posted';
CREATE INDEX showcase_message ON showcase_shares (message_id);

-- One vote per member per share: the primary key is what counts it once.
CREATE TABLE showcase_votes (
    share_id    INTEGER NOT NULL REFERENCES showcase_shares (id),
    user_id     INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (share_id, user_id)
);

-- Movements of a server's credit pool, beside the ledger rows that are the money itself
-- (the pool is the ledger account of user 0 in that server).
CREATE TABLE pool_movements (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('deposit', 'withdraw', 'draw', 'prize')),
    user_id         INTEGER,                -- the admin (deposit, withdraw) or the member
    amount          INTEGER NOT NULL CHECK (amount > 0),
    job_id          TEXT,
    event_id        INTEGER,
    pool_ledger_id  INTEGER NOT NULL REFERENCES ledger (id),
    member_ledger_id INTEGER REFERENCES ledger (id),
    created_at      REAL NOT NULL
);
CREATE INDEX pool_draws ON pool_movements (guild_id, user_id, created_at) WHERE kind = 'draw';
CREATE INDEX pool_guild ON pool_movements (guild_id, created_at);
CREATE TRIGGER pool_movements_no_update BEFORE UPDATE ON pool_movements
BEGIN SELECT RAISE(ABORT, 'pool movements are append-only'); END;
CREATE TRIGGER pool_movements_no_delete BEFORE DELETE ON pool_movements
BEGIN SELECT RAISE(ABORT, 'pool movements are append-only'); END;

-- Themed events: at most one open per server; closing pays the prize at most once.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    channel_id      INTEGER NOT NULL,       -- where entries and the result are posted
    theme           TEXT NOT NULL CHECK (length(theme) BETWEEN 1 AND 100),
    prize           INTEGER NOT NULL DEFAULT 0 CHECK (prize >= 0),
    state           TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    created_by      INTEGER,
    created_at      REAL NOT NULL,
    ends_at         REAL NOT NULL,
    closed_at       REAL,
    closed_by       INTEGER,
    announced_at    REAL,
    announce_message_id INTEGER,
    CHECK ((state = 'closed') = (closed_at IS NOT NULL))
);
CREATE UNIQUE INDEX events_one_open ON events (guild_id) WHERE state = 'open';
CREATE INDEX events_due ON events (ends_at) WHERE state = 'open';

CREATE TABLE event_entries (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER NOT NULL REFERENCES events (id),
    job_id      TEXT NOT NULL REFERENCES jobs (id),
    user_id     INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    channel_id  INTEGER,
    message_id  INTEGER,
    UNIQUE (event_id, user_id),
    UNIQUE (event_id, job_id)
);
CREATE INDEX event_entries_message ON event_entries (message_id);

-- One vote per member per event (voting for another entry moves it).
CREATE TABLE event_votes (
    event_id    INTEGER NOT NULL REFERENCES events (id),
    user_id     INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL REFERENCES event_entries (id),
    created_at  REAL NOT NULL,
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_votes_entry ON event_votes (entry_id);

-- Prizes paid: the primary key makes each winner's payment happen at most once.
CREATE TABLE event_payouts (
    event_id    INTEGER NOT NULL REFERENCES events (id),
    user_id     INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL REFERENCES event_entries (id),
    votes       INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    movement_id INTEGER REFERENCES pool_movements (id),
    created_at  REAL NOT NULL,
    PRIMARY KEY (event_id, user_id)
);

-- Members' reports of a result; one per member per job, resolved at most once.
CREATE TABLE job_reports (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    job_id          TEXT NOT NULL REFERENCES jobs (id),
    reporter_id     INTEGER NOT NULL,
    reason          TEXT,
    created_at      REAL NOT NULL,
    message_id      INTEGER,                -- the report in the moderators' channel
    message_channel_id INTEGER,
    state           TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'deleted', 'dismissed')),
    resolved_at     REAL,
    resolved_by     INTEGER,
    UNIQUE (job_id, reporter_id),
    CHECK ((state = 'open') = (resolved_at IS NULL))
);
