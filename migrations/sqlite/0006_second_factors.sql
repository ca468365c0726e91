-- Second factors: an authenticator app (TOTP, RFC 6238) and recovery codes; the
-- authentication context class (acr) carried from sign-in into codes and grants; and
-- clients that require a second factor.

-- One authenticator app per person. `secret` is the base32 key, sealed with
-- keys.encryption_key ("aes256gcm:...") when one is set. A row with no `confirmed_at`
-- is an enrolment in progress: shown, not yet confirmed with a code, not a factor.
-- `last_step` is the RFC 6238 time step of the last code accepted; a code of that
-- step or an earlier one is refused (RFC 6238 section 5.2: each code works once).
CREATE TABLE user_totp (
    user_id      BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Single-use recovery codes: only the SHA-256 of the person's id and the code is kept.
CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- The acr achieved at sign-in, when the request asked with acr_values (OIDC Core
-- section 3.1.2.1); NULL when it did not ask.
ALTER TABLE authorization_codes ADD COLUMN acr TEXT;
ALTER TABLE grants ADD COLUMN acr TEXT;

-- A client whose users must pass a second factor before it gets a code.
ALTER TABLE clients ADD COLUMN require_second_factor INTEGER NOT NULL DEFAULT 0;
