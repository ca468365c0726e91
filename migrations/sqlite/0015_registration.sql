-- Dynamic client registration (RFC 7591, RFC 7592).
-- Initial access tokens: the bearer token a registration request must carry when
-- registration.mode is initial_token. Stored as SHA-256 (base64url) only; the token is
-- shown once. max_uses NULL: any number of uses until it expires or is revoked.
CREATE TABLE initial_access_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,                  -- the audit actor: user:<uuid>, client:<id>, cli
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    max_uses    INTEGER,
    uses        INTEGER NOT NULL DEFAULT 0,
    revoked_at  INTEGER
) STRICT;

-- What RFC 7592 needs beyond the clients row of a self-registered client: the hash of
-- its registration access token, the metadata as registered (echoed by GET), when its
-- client_id was issued and when its secret expires (0: never). Deleting the client
-- deletes this row.
CREATE TABLE client_registrations (
    client_id                TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    access_token_hash        TEXT NOT NULL UNIQUE,
    metadata                 TEXT NOT NULL,   -- JSON object
    client_id_issued_at      INTEGER NOT NULL,
    client_secret_expires_at INTEGER NOT NULL DEFAULT 0,
    initial_token_id         TEXT             -- which initial access token registered it
) STRICT;
