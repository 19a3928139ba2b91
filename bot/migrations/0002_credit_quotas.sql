-- Allowances, tiers, limits and refills: what a server runs its credit economy on.

-- A server's own rules; a NULL column means "the operator's default from the environment".
CREATE TABLE credit_settings (
    guild_id            INTEGER PRIMARY KEY,
    starting_credits    INTEGER CHECK (starting_credits >= 0),
    refill_amount       INTEGER CHECK (refill_amount >= 0),
    refill_cap          INTEGER CHECK (refill_cap >= 0),
    refill_period_hours INTEGER CHECK (refill_period_hours BETWEEN 1 AND 8760),
    -- 0 means no limit for both.
    max_concurrent_jobs INTEGER CHECK (max_concurrent_jobs >= 0),
    daily_spend_cap     INTEGER CHECK (daily_spend_cap >= 0),
    updated_at          REAL NOT NULL,
    updated_by          INTEGER
);

-- Named tiers; a NULL column leaves the server's value alone (a tier only ever improves it).
CREATE TABLE credit_tiers (
    guild_id            INTEGER NOT NULL,
    name                TEXT NOT NULL COLLATE NOCASE,
    refill_amount       INTEGER CHECK (refill_amount >= 0),
    refill_cap          INTEGER CHECK (refill_cap >= 0),
    discount_percent    INTEGER CHECK (discount_percent BETWEEN 0 AND 100),
    max_concurrent_jobs INTEGER CHECK (max_concurrent_jobs >= 0),
    updated_at          REAL NOT NULL,
    updated_by          INTEGER,
    PRIMARY KEY (guild_id, name)
);

-- Members holding one of these roles get the tier.
CREATE TABLE credit_tier_roles (
    guild_id    INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    tier        TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (guild_id, role_id),
    FOREIGN KEY (guild_id, tier) REFERENCES credit_tiers (guild_id, name) ON DELETE CASCADE
);

-- A tier an admin gave one member directly.
CREATE TABLE credit_tier_members (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    tier        TEXT NOT NULL COLLATE NOCASE,
    PRIMARY KEY (guild_id, user_id),
    FOREIGN KEY (guild_id, tier) REFERENCES credit_tiers (guild_id, name) ON DELETE CASCADE
);

-- The roles each member had when last seen, for spend-per-role reports.
CREATE TABLE member_roles (
    guild_id    INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    role_id     INTEGER NOT NULL,
    PRIMARY KEY (guild_id, user_id, role_id)
);

-- One row per member and allowance period: the primary key is what makes a refill happen at
-- most once per period, however many commands race for it. Amount 0: the member was at the cap.
CREATE TABLE refills (
    guild_id        INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    period_start    INTEGER NOT NULL,
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    ledger_id       INTEGER REFERENCES ledger (id),
    created_at      REAL NOT NULL,
    PRIMARY KEY (guild_id, user_id, period_start),
    FOREIGN KEY (guild_id, user_id) REFERENCES members (guild_id, user_id),
    CHECK ((amount = 0) = (ledger_id IS NULL))
);
CREATE TRIGGER refills_no_update BEFORE UPDATE ON refills
BEGIN SELECT RAISE(ABORT, 'refills are append-only'); END;
CREATE TRIGGER refills_no_delete BEFORE DELETE ON refills
BEGIN SELECT RAISE(ABORT, 'refills are append-only'); END;

-- What a capture actually spent (NULL before 0002: the whole hold). The rest was returned.
ALTER TABLE holds ADD COLUMN captured INTEGER CHECK (captured >= 0 AND captured <= amount);

-- Open holds per member (concurrency limit) and a server's holds per day (spend cap).
CREATE INDEX holds_member_open ON holds (guild_id, user_id) WHERE state = 'open';
CREATE INDEX holds_guild_created ON holds (guild_id, created_at);
-- Usage reports read a server's jobs by time.
CREATE INDEX jobs_guild_created ON jobs (guild_id, created_at);
