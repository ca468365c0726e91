-- People manage their own accounts: profile claims, tombstones, single-use links,
-- sessions linked to their person, the mail outbox and the audit trail.

-- Standard profile claims (OIDC Core section 5.1) beside display_name (`name`).
ALTER TABLE users ADD COLUMN given_name TEXT;
ALTER TABLE users ADD COLUMN family_name TEXT;
-- Whether the person signed up at /register (then `accounts.require_verified_email`
-- keeps them out until they confirm their address) rather than being added by an admin.
ALTER TABLE users ADD COLUMN self_registered BOOLEAN NOT NULL DEFAULT FALSE;
-- Set when the account is deleted: personal data is wiped, the row stays as a tombstone
-- so the username (its key) and the `sub` are never given to anyone else.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;

-- Single-use links sent by mail: email verification and password reset. Only the
-- SHA-256 of the token is kept. A verification is bound to the address it was sent to.
CREATE TABLE account_tokens (
    token_hash TEXT PRIMARY KEY,               -- SHA-256, base64url
    purpose    TEXT NOT NULL,                           -- 'verify_email' | 'reset_password'
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,                           -- the address the link went to
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose, created_at);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);

-- A browser session's person and device, kept beside the record so the account page
-- can list and end them. `sid` is the public handle (never the cookie's id).
ALTER TABLE browser_sessions ADD COLUMN user_id UUID;
ALTER TABLE browser_sessions ADD COLUMN sid TEXT;
ALTER TABLE browser_sessions ADD COLUMN user_agent TEXT;
ALTER TABLE browser_sessions ADD COLUMN ip TEXT;
ALTER TABLE browser_sessions ADD COLUMN signed_in_at BIGINT;
ALTER TABLE browser_sessions ADD COLUMN last_seen_at BIGINT;
CREATE INDEX browser_sessions_user ON browser_sessions (user_id);

-- Mail waiting to be delivered: written in the transaction of what it reports, sent by
-- the delivery worker, deleted once delivered.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,          -- UUID
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,                            -- a worker holds it until then
    last_error      TEXT,
    failed_at       BIGINT                             -- set when delivery is given up
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at);

-- Append-only security events. Never a password, code or token.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,               -- UUID
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,                           -- 'success' | 'failure'
    actor      TEXT NOT NULL,                           -- 'user:<uuid>', 'cli', 'system', 'anonymous'
    user_id    UUID,                                    -- the person it is about
    client_id  TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     JSONB NOT NULL DEFAULT '{}'              -- object
);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
CREATE INDEX audit_events_at ON audit_events (at);
