//! The `users` table: people who sign in.

use uuid::Uuid;

use crate::crypto::Secret;

use super::{Db, Result, StorageError, WriteTx, on_db, on_tx, on_write, unique_violation};

/// A person as the rest of Portcullis sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUser {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    /// argon2id PHC string.
    pub password_hash: Secret,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Roles everywhere (`user_roles` rows with no client), sorted.
    pub roles: Vec<String>,
    pub disabled: bool,
    /// Signed up at /register rather than being added by an admin.
    pub self_registered: bool,
    /// Set on a deleted account's tombstone.
    pub deleted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The profile claims a person edits on the account page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// Who a person is known as: what an admin may rename.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub username_key: String,
    pub email: String,
    pub email_key: String,
    pub email_verified: bool,
}

#[derive(Debug)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    /// What makes the username unique (`accounts::identity::username_key`).
    pub username_key: String,
    /// What makes the email unique (`accounts::identity::email_key`).
    pub email_key: String,
    pub email_verified: bool,
    pub password_hash: Secret,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub self_registered: bool,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    username: String,
    email: String,
    email_verified: bool,
    password_hash: String,
    display_name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    /// The roles, space-separated (`ROLES`); NULL when there are none.
    roles: Option<String>,
    disabled: bool,
    self_registered: bool,
    deleted_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<UserRow> for StoredUser {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            password_hash: Secret::new(r.password_hash),
            display_name: r.display_name,
            given_name: r.given_name,
            family_name: r.family_name,
            roles: r
                .roles
                .map(|all| all.split(' ').map(str::to_owned).collect())
                .unwrap_or_default(),
            disabled: r.disabled,
            self_registered: r.self_registered,
            deleted_at: r.deleted_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A person's roles everywhere as one space-separated text (role names have no spaces):
/// `string_agg … ORDER BY` runs on PostgreSQL and on SQLite 3.44 and later (sqlx bundles
/// a later one), so one query reads a person with their roles.
macro_rules! roles_column {
    () => {
        "(SELECT string_agg(r.role, ' ' ORDER BY r.role) FROM user_roles r \
          WHERE r.user_id = users.id AND r.client_id = '') AS roles"
    };
}

const COLUMNS: &str = concat!(
    "id, username, email, email_verified, password_hash, display_name, \
     given_name, family_name, ",
    roles_column!(),
    ", disabled, self_registered, deleted_at, created_at, updated_at"
);

/// `COLUMNS` as an INSERT's RETURNING gives them: the roles are written after the row.
const RETURNED_COLUMNS: &str = "id, username, email, email_verified, password_hash, \
     display_name, given_name, family_name, CAST(NULL AS TEXT) AS roles, disabled, \
     self_registered, deleted_at, created_at, updated_at";

/// The columns `insert` writes, in the order of its placeholders.
const INSERT_COLUMNS: &str = "id, username, email, email_verified, password_hash, display_name, \
                              disabled, created_at, updated_at, username_key, email_key, \
                              self_registered";

fn insert_sql() -> String {
    format!(
        "INSERT INTO users ({INSERT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11) RETURNING {RETURNED_COLUMNS}"
    )
}

/// Binds a new user to `insert_sql`'s placeholders, under a fresh id.
macro_rules! bind_new_user {
    ($q:expr, $new:expr, $now:expr) => {
        $q.bind(Uuid::new_v4())
            .bind(&$new.username)
            .bind(&$new.email)
            .bind($new.email_verified)
            .bind($new.password_hash.expose())
            .bind(&$new.display_name)
            .bind(false)
            .bind($now)
            .bind(&$new.username_key)
            .bind(&$new.email_key)
            .bind($new.self_registered)
    };
}

/// A unique index hit says which key is taken.
fn insert_outcome(row: std::result::Result<UserRow, sqlx::Error>) -> Result<StoredUser> {
    match row {
        Ok(row) => Ok(row.into()),
        Err(e) => match unique_violation(&e) {
            Some(what) if what.contains("email") => Err(StorageError::Conflict("email")),
            Some(_) => Err(StorageError::Conflict("username")),
            None => Err(e.into()),
        },
    }
}

#[derive(Clone, Debug)]
pub struct UserStore {
    db: Db,
}

impl UserStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds a user with their roles; a taken username or email (compared by their keys)
    /// is `Conflict`.
    pub async fn insert(&self, new: NewUser, now: i64) -> Result<StoredUser> {
        let mut tx = self.db.begin_write().await?;
        let user = self.insert_in(&mut tx, new, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// As `insert`, inside `tx`.
    pub async fn insert_in(&self, tx: &mut WriteTx, new: NewUser, now: i64) -> Result<StoredUser> {
        let sql = insert_sql();
        let row = on_tx!(tx, |conn| {
            bind_new_user!(sqlx::query_as::<_, UserRow>(&sql), new, now)
                .fetch_one(&mut *conn)
                .await
        });
        let mut user = insert_outcome(row)?;
        let mut roles = new.roles;
        roles.sort();
        roles.dedup();
        super::roles::RoleStore::set_in(tx, user.id, "", &roles, now).await?;
        user.roles = roles;
        Ok(user)
    }

    pub async fn find_by_id(&self, id: Uuid) -> Result<Option<StoredUser>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, UserRow>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Into::into))
    }

    /// Finds the user whose username key is `username_key` or, failing that, whose
    /// email key is `email_key`.
    pub async fn find_by_keys(
        &self,
        username_key: &str,
        email_key: Option<&str>,
    ) -> Result<Option<StoredUser>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM users WHERE username_key = $1 OR email_key = $2 \
             ORDER BY username_key = $1 DESC LIMIT 1"
        );
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, UserRow>(&sql)
                .bind(username_key)
                .bind(email_key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(Into::into))
    }

    /// Users stored before uniqueness keys existed: (id, username, email).
    pub async fn without_keys(&self) -> Result<Vec<(Uuid, String, String)>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (Uuid, String, String)>(
                "SELECT id, username, email FROM users \
                 WHERE username_key IS NULL OR email_key IS NULL",
            )
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Sets a user's uniqueness keys; `Conflict` when another user already has one.
    pub async fn set_keys(&self, id: Uuid, username_key: &str, email_key: &str) -> Result<()> {
        let done = on_write!(&self.db, |pool| {
            sqlx::query("UPDATE users SET username_key = $1, email_key = $2 WHERE id = $3")
                .bind(username_key)
                .bind(email_key)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        });
        match done {
            Ok(()) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(StorageError::Conflict("username")),
            Err(e) => Err(e.into()),
        }
    }

    /// How many users there are, without loading them.
    pub async fn count(&self) -> Result<u64> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub async fn list(&self) -> Result<Vec<StoredUser>> {
        let sql = format!("SELECT {COLUMNS} FROM users ORDER BY lower(username)");
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, UserRow>(&sql).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The users whose username, email address or names contain `needle` (already
    /// lower-cased; compared with the columns lower-cased, and with the folded username
    /// key), ordered by username; a page of them and how many match in all. `LIKE`'s
    /// wildcards in the needle are escaped, so `%` finds a percent sign.
    pub async fn search(
        &self,
        needle: &str,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<StoredUser>, u64)> {
        let escaped: String = needle
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        let filter = "(lower(username) LIKE $1 ESCAPE '\\' OR username_key LIKE $1 ESCAPE '\\' \
             OR lower(email) LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\' \
             OR lower(given_name) LIKE $1 ESCAPE '\\' OR lower(family_name) LIKE $1 ESCAPE '\\')";
        let sql = format!(
            "SELECT {COLUMNS} FROM users WHERE {filter} ORDER BY lower(username), id \
             LIMIT $2 OFFSET $3"
        );
        let count_sql = format!("SELECT COUNT(*) FROM users WHERE {filter}");
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, UserRow>(&sql)
                .bind(&pattern)
                .bind(i64::from(limit))
                .bind(offset)
                .fetch_all(pool)
                .await
        })?;
        let total = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>(&count_sql)
                .bind(&pattern)
                .fetch_one(pool)
                .await
        })?;
        Ok((
            rows.into_iter().map(Into::into).collect(),
            u64::try_from(total).unwrap_or(0),
        ))
    }

    /// Replaces the username and email address (with their keys) inside `tx`; a key
    /// someone else holds is `Conflict("username")` or `Conflict("email")`.
    pub async fn set_identity_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        identity: &Identity,
        now: i64,
    ) -> Result<()> {
        let done = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET username = $2, username_key = $3, email = $4, \
                 email_key = $5, email_verified = $6, updated_at = $7 \
                 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(&identity.username)
            .bind(&identity.username_key)
            .bind(&identity.email)
            .bind(&identity.email_key)
            .bind(identity.email_verified)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        });
        match done {
            Ok(()) => Ok(()),
            Err(e) => match unique_violation(&e) {
                Some(what) if what.contains("email") => Err(StorageError::Conflict("email")),
                Some(_) => Err(StorageError::Conflict("username")),
                None => Err(e.into()),
            },
        }
    }

    /// Replaces the password hash (after a rehash with new parameters, or a reset).
    pub async fn set_password_hash(&self, id: Uuid, hash: &str, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Marks the address confirmed, if it is still `email` (a verification is bound to
    /// the address it was sent to). False when the address has changed since.
    pub async fn confirm_email_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        email: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET email_verified = $3, updated_at = $4 \
                 WHERE id = $1 AND email = $2 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(email)
            .bind(true)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Replaces the address with a newly confirmed one; `Conflict("email")` when
    /// someone else has it by now.
    pub async fn change_email_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        email: &str,
        email_key: &str,
        now: i64,
    ) -> Result<()> {
        let done = on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET email = $2, email_key = $3, email_verified = $4, \
                 updated_at = $5 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(email)
            .bind(email_key)
            .bind(true)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        });
        match done {
            Ok(()) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(StorageError::Conflict("email")),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the password hash inside `tx` (a reset or a change).
    pub async fn set_password_hash_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        hash: &Secret,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash.expose())
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Replaces the profile claims.
    pub async fn set_profile_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        profile: &Profile,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET display_name = $2, given_name = $3, family_name = $4, \
                 updated_at = $5 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(id)
            .bind(&profile.display_name)
            .bind(&profile.given_name)
            .bind(&profile.family_name)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Turns the account into a tombstone: disabled, personal data wiped, the username
    /// (and its key) and the id kept so neither is ever given to someone else. The
    /// address is freed.
    pub async fn tombstone_in(&self, tx: &mut WriteTx, id: Uuid, now: i64) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET email = '', email_key = NULL, email_verified = $2, \
                 password_hash = '', display_name = NULL, given_name = NULL, \
                 family_name = NULL, disabled = $3, deleted_at = $4, updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(false)
            .bind(true)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        // A tombstone holds no roles, everywhere or in any client.
        on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Enables or disables an account inside `tx`.
    pub async fn set_disabled_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        disabled: bool,
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3 \
                 AND deleted_at IS NULL",
            )
            .bind(disabled)
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    pub async fn set_disabled(&self, id: Uuid, disabled: bool, now: i64) -> Result<()> {
        on_write!(&self.db, |pool| {
            sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled)
                .bind(now)
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_never_prints_its_password_hash() {
        let user = StoredUser {
            id: Uuid::nil(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: false,
            password_hash: Secret::new("$argon2id$v=19$secret"),
            display_name: None,
            given_name: None,
            family_name: None,
            roles: vec![],
            disabled: false,
            self_registered: false,
            deleted_at: None,
            created_at: 0,
            updated_at: 0,
        };
        assert!(!format!("{user:?}").contains("argon2id"));
    }
}
