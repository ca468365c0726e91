-- Indexes for the purge job (src/jobs/purge.rs), so that each bounded batch finds its
-- rows without reading the whole table: a grant is purged only once no authorization
-- code names it (looked up by grant_id), and mail given up long ago goes by failed_at.
CREATE INDEX authorization_codes_grant_id ON authorization_codes (grant_id);
CREATE INDEX mail_outbox_failed_at ON mail_outbox (failed_at);
