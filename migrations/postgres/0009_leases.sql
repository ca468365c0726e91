-- Leases: which instance runs a piece of scheduled work (key rotation, purging) right
-- now. A row per job; an instance holds it until `expires_at` and renews it while it
-- lives, so a crashed holder is replaced once its lease runs out. A plain row with an
-- expiry, not an advisory lock or LISTEN/NOTIFY, so it works the same on SQLite,
-- PostgreSQL and PostgreSQL-compatible distributed engines such as CockroachDB.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY NOT NULL,
    holder     TEXT NOT NULL,                  -- the instance id (random, per process)
    expires_at BIGINT NOT NULL                -- unix seconds
);
