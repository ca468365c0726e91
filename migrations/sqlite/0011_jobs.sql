-- An index for the purge job (src/jobs/purge.rs): a grant is purged only once no
-- authorization code names it, which each bounded batch looks up by grant_id for every
-- grant it considers; without this index that is a scan of the codes per grant.
-- (Given-up mail is found without one: the outbox holds only mail not yet delivered,
-- and an index on failed_at changed how PostgreSQL plans the mail claim for the worse.)
CREATE INDEX authorization_codes_grant_id ON authorization_codes (grant_id);
