//! The `passkeys` table: WebAuthn credentials, each owned by one person. The credential
//! itself (public key, sign counter, backup state) is kept as the JSON `accounts`
//! hands over; storage does not look inside it.

use uuid::Uuid;

use super::{Db, Result, StorageError, WriteTx, on_db, on_tx, unique_violation};

/// A passkey as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The authenticator's credential id, base64url.
    pub credential_id: String,
    /// What the person called it ("Work laptop").
    pub name: String,
    /// The credential as JSON (webauthn-rs's `Passkey`).
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// A passkey to add.
#[derive(Debug)]
pub struct NewPasskey<'a> {
    pub user_id: Uuid,
    pub credential_id: &'a str,
    pub name: &'a str,
    pub credential: &'a str,
}

type Row = (Uuid, Uuid, String, String, String, i64, Option<i64>);

fn from_row(r: Row) -> StoredPasskey {
    let (id, user_id, credential_id, name, credential, created_at, last_used_at) = r;
    StoredPasskey {
        id,
        user_id,
        credential_id,
        name,
        credential,
        created_at,
        last_used_at,
    }
}

const COLUMNS: &str =
    "id, user_id, credential_id, name, credential, created_at, last_used_at FROM passkeys";

#[derive(Clone, Debug)]
pub struct PasskeyStore {
    db: Db,
}

impl PasskeyStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Adds a passkey inside `tx`; a credential id already registered (to anyone) is a
    /// `Conflict`.
    pub async fn insert_in(
        &self,
        tx: &mut WriteTx,
        new: &NewPasskey<'_>,
        now: i64,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let done = on_tx!(tx, |conn| {
            sqlx::query(
                "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(new.user_id)
            .bind(new.credential_id)
            .bind(new.name)
            .bind(new.credential)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map(|_| ())
        });
        match done {
            Ok(_) => Ok(id),
            Err(e) if unique_violation(&e).is_some() => Err(StorageError::Conflict("passkey")),
            Err(e) => Err(e.into()),
        }
    }

    /// The person's passkeys, oldest first.
    pub async fn list_for_user(&self, user_id: Uuid) -> Result<Vec<StoredPasskey>> {
        let sql = format!("SELECT {COLUMNS} WHERE user_id = $1 ORDER BY created_at, name, id");
        let rows = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, Row>(&sql)
                .bind(user_id)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// How many passkeys the person has.
    pub async fn count_for_user(&self, user_id: Uuid) -> Result<u32> {
        let n = on_db!(&self.db, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .fetch_one(pool)
                .await
        })?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The passkey with this credential id, whoever owns it.
    pub async fn find_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<StoredPasskey>> {
        let sql = format!("SELECT {COLUMNS} WHERE credential_id = $1");
        let row = on_db!(&self.db, |pool| {
            sqlx::query_as::<_, Row>(&sql)
                .bind(credential_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(from_row))
    }

    /// After a sign-in with passkey `id`: its updated credential (sign counter, backup
    /// state) and when. False when the passkey was removed meanwhile, so the sign-in
    /// must not count.
    pub async fn record_use_in(
        &self,
        tx: &mut WriteTx,
        id: Uuid,
        credential: &str,
        now: i64,
    ) -> Result<bool> {
        let n = on_tx!(tx, |conn| {
            sqlx::query("UPDATE passkeys SET credential = $2, last_used_at = $3 WHERE id = $1")
                .bind(id)
                .bind(credential)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Renames the person's passkey `id`; false when they have no such passkey.
    pub async fn rename_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        id: Uuid,
        name: &str,
    ) -> Result<bool> {
        let n = on_tx!(tx, |conn| {
            sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .bind(name)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Removes the person's passkey `id`, returning its name; `None` when they have no
    /// such passkey.
    pub async fn delete_in(
        &self,
        tx: &mut WriteTx,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<Option<String>> {
        let name = on_tx!(tx, |conn| {
            sqlx::query_scalar::<_, String>(
                "DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING name",
            )
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await
        })?;
        Ok(name)
    }

    /// Removes every passkey of the person, inside `tx` (the account is being deleted).
    pub async fn delete_all_for_user_in(&self, tx: &mut WriteTx, user_id: Uuid) -> Result<u64> {
        let n = on_tx!(tx, |conn| {
            sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }
}
