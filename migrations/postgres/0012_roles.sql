-- Roles are rows, not a JSON array in users: "who has role X" is one indexed query on
-- both engines, and a role can be given for one client only ("roles to apps").
-- client_id '' is a role everywhere (the `roles` claim); any other value is a role in
-- that client only (the `client_roles` claim of that client's tokens). It is not a
-- foreign key so that '' can stand for "everywhere"; deleting a client deletes its rows.
CREATE TABLE user_roles (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL DEFAULT '',
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id, role)
);

CREATE INDEX user_roles_role ON user_roles (role, client_id);

INSERT INTO user_roles (user_id, client_id, role, created_at)
SELECT u.id, '', r.value, u.updated_at
FROM users u CROSS JOIN LATERAL jsonb_array_elements_text(u.roles) AS r(value);

ALTER TABLE users DROP COLUMN roles;
