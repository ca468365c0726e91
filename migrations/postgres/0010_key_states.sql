-- A key's life is explicit: published (activate_at still to come: in the JWKS, not
-- signing) -> active (the newest key whose activate_at has come: it signs) -> retired
-- (a newer key signs; still in the JWKS until unpublish_at) -> removed (unpublish_at
-- has passed; the keys job deletes the row). Which key signs is decided at signing time
-- from activate_at, so every instance switches at the same instant.
--
-- The 0004 index ("one key without retire_at") no longer fits: a published key and the
-- active one are both without an end. Its job, one winner among instances that race
-- to add a key, moves to `generation`: each key takes the next number, and a unique
-- index lets only one insert have it (the first key is generation 1).
DROP INDEX signing_keys_one_signing;
ALTER TABLE signing_keys RENAME COLUMN retire_at TO unpublish_at;
ALTER TABLE signing_keys ADD COLUMN activate_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
UPDATE signing_keys SET activate_at = created_at;
UPDATE signing_keys SET generation = (
    SELECT COUNT(*) FROM signing_keys AS older
    WHERE older.created_at < signing_keys.created_at
       OR (older.created_at = signing_keys.created_at AND older.kid <= signing_keys.kid)
);
CREATE UNIQUE INDEX signing_keys_generation ON signing_keys (generation);

-- A version counter per cached family of rows, bumped in the same transaction as every
-- change to it: instances poll one row every second and reload only when it moved.
-- "keys" is the key ring's; other caches (clients, issue 11) add their own name.
CREATE TABLE change_versions (
    name    TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO change_versions (name, version) VALUES ('keys', 1);
