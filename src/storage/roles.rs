//! The `user_roles` table: a person's roles, everywhere (`client_id` '') or in one
//! client only. One row per role, so "who has role X" is one indexed query.

use uuid::Uuid;

use super::{Db, Result, WriteTx, on_db, on_tx};

/// One role a person holds: everywhere (`client_id` None) or in one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleGrant {
    pub client_id: Option<String>,
    pub role: String,
}

/// Someone who holds a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleHolder {
    pub user_id: Uuid,
    pub username: String,
    pub disabled: bool,
}

#[derive(Clone, Debug)]
pub struct RoleStore {
    db: Db,
}

impl RoleStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Replaces the person's roles in `client_id` ('' for everywhere) with `roles`,
    /// inside `tx`.
    pub async fn set_in(
        tx: &mut WriteTx,
        user_id: Uuid,
        client_id: &str,
        roles: &[String],
        now: i64,
    ) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        for role in roles {
            on_tx!(tx, |conn| {
                sqlx::query(
                    "INSERT INTO user_roles (user_id, client_id, role, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(client_id)
                .bind(role)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Every role the person holds, everywhere first, then by client and name.
    pub async fn of_user(&self, user_id: Uuid) -> Result<Vec<RoleGrant>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (String, String)>(
                "SELECT client_id, role FROM user_roles WHERE user_id = $1 \
                 ORDER BY client_id, role",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(client_id, role)| RoleGrant {
                client_id: (!client_id.is_empty()).then_some(client_id),
                role,
            })
            .collect())
    }

    /// The person's roles in one client (not those everywhere), sorted.
    pub async fn in_client(&self, user_id: Uuid, client_id: &str) -> Result<Vec<String>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, String>(
                "SELECT role FROM user_roles WHERE user_id = $1 AND client_id = $2 \
                 ORDER BY role",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// Who holds `role` everywhere and can still sign in (not disabled, not deleted).
    pub async fn active_holders(&self, role: &str) -> Result<Vec<Uuid>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, Uuid>(
                "SELECT r.user_id FROM user_roles r JOIN users u ON u.id = r.user_id \
                 WHERE r.role = $1 AND r.client_id = '' AND u.disabled = $2 \
                 AND u.deleted_at IS NULL ORDER BY r.user_id",
            )
            .bind(role)
            .bind(false)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows)
    }

    /// As `active_holders`, inside `tx` (to check and change in one transaction).
    pub async fn active_holders_in(&self, tx: &mut WriteTx, role: &str) -> Result<Vec<Uuid>> {
        let rows = on_tx!(tx, |conn| {
            sqlx::query_scalar::<_, Uuid>(
                "SELECT r.user_id FROM user_roles r JOIN users u ON u.id = r.user_id \
                 WHERE r.role = $1 AND r.client_id = '' AND u.disabled = $2 \
                 AND u.deleted_at IS NULL ORDER BY r.user_id",
            )
            .bind(role)
            .bind(false)
            .fetch_all(&mut *conn)
            .await
        })?;
        Ok(rows)
    }

    /// Deletes every role given in `client_id` (the client is being deleted).
    pub async fn delete_client_in(&self, tx: &mut WriteTx, client_id: &str) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM user_roles WHERE client_id = $1")
                .bind(client_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Inside `tx`, before `active_holders_in`: touches every row of `role` everywhere,
    /// so on PostgreSQL two transactions that each check "is this the last admin?" and
    /// then change one take turns instead of both seeing two admins and each removing
    /// one (SQLite's write transactions already take turns). A plain UPDATE, portable
    /// where `SELECT ... FOR UPDATE` is not.
    pub async fn lock_holders_in(&self, tx: &mut WriteTx, role: &str) -> Result<()> {
        on_tx!(tx, |conn| {
            sqlx::query(
                "UPDATE user_roles SET created_at = created_at \
                 WHERE role = $1 AND client_id = ''",
            )
            .bind(role)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Who holds `role`, everywhere (`client_id` '') or in one client: (user id,
    /// username, disabled), by username; deleted accounts hold no roles.
    pub async fn holders(&self, role: &str, client_id: &str) -> Result<Vec<RoleHolder>> {
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, (Uuid, String, bool)>(
                "SELECT u.id, u.username, u.disabled FROM user_roles r \
                 JOIN users u ON u.id = r.user_id \
                 WHERE r.role = $1 AND r.client_id = $2 ORDER BY lower(u.username), u.id",
            )
            .bind(role)
            .bind(client_id)
            .fetch_all(pool)
            .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(user_id, username, disabled)| RoleHolder {
                user_id,
                username,
                disabled,
            })
            .collect())
    }
}
