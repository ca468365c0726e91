-- Fixes from the protocol review: what a code's request carried, resource servers,
-- registered origins, pending POSTed authorization requests, and engine-independent
-- uniqueness of usernames and emails.

-- Whether the authorization request sent redirect_uri (then the token request must too).
ALTER TABLE authorization_codes ADD COLUMN redirect_uri_sent BOOLEAN NOT NULL DEFAULT TRUE;

-- Audiences this client serves as a resource server: it may introspect their tokens.
ALTER TABLE clients ADD COLUMN resource_audiences JSONB NOT NULL DEFAULT '[]';

-- The origins of every client's redirect URIs, for CORS without scanning clients.
CREATE TABLE client_origins (
    origin    TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    PRIMARY KEY (origin, client_id)
);

-- A POSTed authorization request, kept briefly under a random id so that the browser
-- is sent on with a GET that carries its own cookie.
CREATE TABLE authorization_posts (
    id         TEXT PRIMARY KEY NOT NULL,
    params     JSONB NOT NULL,                          -- array of [name, value]
    expires_at BIGINT NOT NULL
);
CREATE INDEX authorization_posts_expires_at ON authorization_posts (expires_at);

-- Usernames and emails are unique by a key computed in Rust (NFKC, case folding, IDNA
-- for email domains), the same on both engines; lower() follows the locale here.
ALTER TABLE users ADD COLUMN username_key TEXT;
ALTER TABLE users ADD COLUMN email_key TEXT;
DROP INDEX users_username_key;
DROP INDEX users_email_key;
CREATE UNIQUE INDEX users_username_key_unique ON users (username_key);
CREATE UNIQUE INDEX users_email_key_unique ON users (email_key);
