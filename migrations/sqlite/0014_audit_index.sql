-- The admin console's audit filters: by event type (sign-ins for the overview's counts,
-- failed sign-ins in the log) and by client, each newest first. By user and by time
-- already have audit_events_user and audit_events_at.
CREATE INDEX audit_events_event ON audit_events (event, at);
CREATE INDEX audit_events_client ON audit_events (client_id, at);
