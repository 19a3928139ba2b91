-- Members, the append-only ledger, holds, and durable jobs.

CREATE TABLE members (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    -- Cached projections of the ledger, kept in the same transaction as each ledger row.
    balance     INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    held        INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0 AND held <= balance),
    created_at  REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id)
);

CREATE TABLE ledger (
    id              INTEGER PRIMARY KEY,
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('grant', 'take', 'hold', 'capture', 'release')),
    balance_delta   INTEGER NOT NULL,
    held_delta      INTEGER NOT NULL,
    job_id          TEXT,
    reason          TEXT NOT NULL,
    actor_id        INTEGER,
    created_at      REAL NOT NULL,
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id)
);
CREATE INDEX ledger_member ON ledger (guild_id, user_id, id);
-- A job is held, captured and released at most once each.
CREATE UNIQUE INDEX ledger_one_per_job_kind ON ledger (job_id, kind) WHERE job_id IS NOT NULL;

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;

CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,
    interaction_id      INTEGER UNIQUE,
    guild_id            INTEGER NOT NULL,
    channel_id          INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    locale              TEXT NOT NULL DEFAULT 'en-US',
    provider            TEXT NOT NULL,
    request_json        TEXT NOT NULL,
    price               INTEGER NOT NULL CHECK (price >= 0),
    state               TEXT NOT NULL
                        CHECK (state IN ('queued', 'submitting', 'running',
                                         'succeeded', 'failed', 'cancelled')),
    provider_job_id     TEXT,
    provider_status     TEXT,
    estimated_seconds   REAL,
    result_url          TEXT,
    provider_cost       REAL,
    width               INTEGER,
    height              INTEGER,
    failure_code        TEXT,
    failure_message     TEXT,
    poll_failures       INTEGER NOT NULL DEFAULT 0,
    next_poll_at        REAL,
    deadline_at         REAL,
    created_at          REAL NOT NULL,
    submitted_at        REAL,
    finished_at         REAL,
    card_message_id     INTEGER,
    upload_limit        INTEGER NOT NULL,
    delivered_at        REAL,
    delivery            TEXT CHECK (delivery IN ('attached', 'link', 'notice')),
    result_message_id   INTEGER,
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id)
);
CREATE INDEX jobs_active ON jobs (state, next_poll_at);
CREATE INDEX jobs_undelivered ON jobs (delivered_at) WHERE delivered_at IS NULL;
CREATE INDEX jobs_member ON jobs (guild_id, user_id, created_at);

CREATE TABLE holds (
    job_id      TEXT PRIMARY KEY REFERENCES jobs (id),
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount >= 0),
    state       TEXT NOT NULL CHECK (state IN ('open', 'captured', 'released')),
    created_at  REAL NOT NULL,
    resolved_at REAL
);

-- Refusals and admin actions, for operators; never contains secrets.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    guild_id    INTEGER,
    user_id     INTEGER,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  REAL NOT NULL
);

-- Small facts about the installation (e.g. the digest of the last synced commands).
CREATE TABLE meta (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
