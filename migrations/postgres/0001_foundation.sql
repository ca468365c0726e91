-- People, client apps and signing keys. Times are Unix seconds (BIGINT) so that one set
-- of queries compares them the same way on SQLite and PostgreSQL.

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    username       TEXT NOT NULL,
    email          TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT NOT NULL,                       -- argon2id PHC string
    display_name   TEXT,
    roles          JSONB NOT NULL DEFAULT '[]',         -- array of role names
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY,
    secret_hash                TEXT,                    -- SHA-256, base64url; NULL for public clients
    name                       TEXT NOT NULL,
    redirect_uris              JSONB NOT NULL,          -- exact strings
    post_logout_redirect_uris  JSONB NOT NULL DEFAULT '[]',
    grant_types                JSONB NOT NULL,
    public                     BOOLEAN NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    allowed_scopes             JSONB NOT NULL,
    first_party                BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                 BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,                          -- PKCS#8 PEM, or sealed with keys.encryption_key
    public_jwk  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    retire_at   BIGINT                                  -- NULL: may sign; else published until then
);
