-- At most one key signs at a time. Two instances starting together on an empty database
-- could each insert a "first" signing key; now only one insert can win, and the other
-- instance loads the winner. Surplus signing keys left by that race are retired (kept
-- published for a week, the default longest token lifetime) so the index can be built.
UPDATE signing_keys SET retire_at = CAST(strftime('%s', 'now') AS INTEGER) + 604800
WHERE retire_at IS NULL AND kid <> (
    SELECT kid FROM signing_keys WHERE retire_at IS NULL
    ORDER BY created_at DESC, kid DESC LIMIT 1
);
CREATE UNIQUE INDEX signing_keys_one_signing ON signing_keys ((retire_at IS NULL))
WHERE retire_at IS NULL;
