-- People, client apps and signing keys. Times are Unix seconds (INTEGER) so that one set
-- of queries compares them the same way on SQLite and PostgreSQL.

CREATE TABLE users (
    id             BLOB PRIMARY KEY NOT NULL,           -- UUID, 16 bytes
    username       TEXT NOT NULL,
    email          TEXT NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0,
    password_hash  TEXT NOT NULL,                       -- argon2id PHC string
    display_name   TEXT,
    roles          TEXT NOT NULL DEFAULT '[]',          -- JSON array of role names
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY NOT NULL,
    secret_hash                TEXT,                    -- SHA-256, base64url; NULL for public clients
    name                       TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,           -- JSON array, exact strings
    post_logout_redirect_uris  TEXT NOT NULL DEFAULT '[]',
    grant_types                TEXT NOT NULL,           -- JSON array
    public                     INTEGER NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    allowed_scopes             TEXT NOT NULL,           -- JSON array
    first_party                INTEGER NOT NULL DEFAULT 0,
    created_at                 INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY NOT NULL,
    private_key TEXT NOT NULL,                          -- PKCS#8 PEM, or sealed with keys.encryption_key
    public_jwk  TEXT NOT NULL,                          -- JSON
    created_at  INTEGER NOT NULL,
    retire_at   INTEGER                                 -- NULL: may sign; else published until then
) STRICT;
