-- Lockout: consecutive failed sign-in attempts per account (wrong passwords, wrong
-- second-factor codes), in the database so that every instance counts the same.
-- One row per account that has failed since its last complete sign-in; a success,
-- a password reset or `portcullis user unlock` deletes it.
CREATE TABLE account_lockouts (
    user_id      BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures     INTEGER NOT NULL DEFAULT 0,  -- since the last lock or success
    locks        INTEGER NOT NULL DEFAULT 0,  -- locks in this streak; the next lasts 2^locks min
    locked_until INTEGER,                     -- unix seconds; NULL or past: not locked
    updated_at   INTEGER NOT NULL
) STRICT;
