-- Passkeys (WebAuthn credentials): each is a second factor and, being discoverable
-- with user verification, a way to sign in without a password.
CREATE TABLE passkeys (
    id            BLOB PRIMARY KEY NOT NULL,           -- UUID, 16 bytes
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The authenticator's credential id, base64url: what a sign-in names.
    credential_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    -- webauthn-rs's Passkey as JSON: public key, sign counter, backup state.
    credential    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
-- One credential belongs to one person (WebAuthn section 7.1 step 25).
CREATE UNIQUE INDEX passkeys_credential_id ON passkeys (credential_id);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);
