//! What the registration endpoint does (RFC 7591 section 3, RFC 7592 section 2) and
//! the initial access tokens that let someone register: the one path the endpoint, the
//! console, the admin API and the CLI share, each change with its audit event in the
//! same transaction.

use std::time::Duration;

use serde_json::Value;

use super::registration::{self, MetadataError};
use crate::{
    audit::{Actor, Audit, Event, EventKind},
    config::RegistrationSettings,
    crypto::{constant_time_eq, random, sha256_b64url},
    storage::{
        NewInitialToken, StorageError, Store, StoredClient, StoredInitialToken, StoredRegistration,
    },
};

/// The longest an initial access token may live.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(366 * 24 * 3600);
/// The most registrations one initial access token may allow.
pub const MAX_TOKEN_USES: i64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    /// The request's metadata is refused (RFC 7591 section 3.2.2).
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A missing, unknown, expired, used-up or revoked initial or registration access
    /// token (RFC 6750 `invalid_token`, 401).
    #[error("{0}")]
    InvalidToken(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A refused field of an initial access token request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct TokenFieldError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Field(#[from] TokenFieldError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What an admin asks for when making an initial access token.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub expires_in: Duration,
    pub max_uses: Option<i64>,
    pub label: String,
}

/// A new initial access token: its record, and the token itself, shown this once.
#[derive(Debug)]
pub struct NewToken {
    pub token: StoredInitialToken,
    pub secret: String,
}

fn actor_text(actor: &Actor) -> String {
    match actor {
        Actor::User(id) => format!("user:{id}"),
        Actor::Client(id) => format!("client:{id}"),
        Actor::Cli => "cli".into(),
        Actor::System => "system".into(),
        Actor::Anonymous => "anonymous".into(),
    }
}

/// Checks a token request: a lifetime above zero and at most `MAX_TOKEN_LIFETIME`,
/// uses from 1 to `MAX_TOKEN_USES`, a label of at most 100 printable characters.
pub fn check_token_request(req: &TokenRequest) -> Result<(), TokenFieldError> {
    if req.expires_in.is_zero() || req.expires_in > MAX_TOKEN_LIFETIME {
        return Err(TokenFieldError {
            field: "expires_in",
            message: "must be longer than zero and at most 366 days".into(),
        });
    }
    if let Some(n) = req.max_uses
        && !(1..=MAX_TOKEN_USES).contains(&n)
    {
        return Err(TokenFieldError {
            field: "max_uses",
            message: format!("must be 1 to {MAX_TOKEN_USES}"),
        });
    }
    if req.label.chars().count() > 100 || req.label.chars().any(char::is_control) {
        return Err(TokenFieldError {
            field: "label",
            message: "must be at most 100 characters, without control characters".into(),
        });
    }
    Ok(())
}

/// Makes an initial access token (console, admin API, CLI).
pub async fn create_token(
    store: &Store,
    audit: &Audit,
    actor: Actor,
    req: TokenRequest,
    now: i64,
) -> Result<NewToken, TokenError> {
    check_token_request(&req)?;
    let secret = random::secret();
    let lifetime = i64::try_from(req.expires_in.as_secs()).unwrap_or(i64::MAX);
    let new = NewInitialToken {
        id: random::id(),
        token_hash: sha256_b64url(secret.as_bytes()),
        label: req.label.trim().to_owned(),
        created_by: actor_text(&actor),
        expires_at: now.saturating_add(lifetime),
        max_uses: req.max_uses,
    };
    let mut tx = store.db.begin_write().await?;
    let token = store
        .registrations
        .insert_token_in(&mut tx, &new, now)
        .await?;
    let mut event = Event::new(EventKind::InitialAccessTokenCreated, actor)
        .with("token_id", token.id.clone())
        .with("expires_at", token.expires_at);
    if let Some(n) = token.max_uses {
        event = event.with("max_uses", n);
    }
    audit.record_in(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(NewToken { token, secret })
}

/// Revokes an initial access token; `None` when there is none with that id.
pub async fn revoke_token(
    store: &Store,
    audit: &Audit,
    actor: Actor,
    id: &str,
    now: i64,
) -> Result<Option<StoredInitialToken>, StorageError> {
    let mut tx = store.db.begin_write().await?;
    let Some(token) = store
        .registrations
        .revoke_token_in(&mut tx, id, now)
        .await?
    else {
        return Ok(None);
    };
    let event = Event::new(EventKind::InitialAccessTokenRevoked, actor).with("token_id", id);
    audit.record_in(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// What the registration endpoint answers with (RFC 7591 section 3.2.1, RFC 7592
/// section 3): the client's credentials and its metadata as registered.
#[derive(Debug)]
pub struct Registration {
    pub client_id: String,
    /// Only when just issued: Portcullis keeps its hash alone.
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    pub client_secret_expires_at: i64,
    /// Only when just issued (registration, update).
    pub registration_access_token: Option<String>,
    pub metadata: Value,
    /// Whether the client has a secret (issued now or earlier).
    pub confidential: bool,
}

fn secret_expiry(policy: &RegistrationSettings, now: i64) -> i64 {
    policy.client_secret_lifetime.map_or(0, |d| {
        now.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    })
}

/// Registers a client (RFC 7591 section 3.1). With `initial_token`, that token is used
/// up once in the same transaction, so a refused registration spends nothing.
pub async fn register(
    store: &Store,
    audit: &Audit,
    policy: &RegistrationSettings,
    initial_token: Option<&str>,
    body: &Value,
    now: i64,
) -> Result<Registration, DynamicError> {
    let checked = registration::check(body, policy)?;
    let registered = registration::register(checked.registration)?;
    let access_token = random::secret();
    let secret_expires = if registered.secret.is_some() {
        secret_expiry(policy, now)
    } else {
        0
    };
    let mut tx = store.db.begin_write().await?;
    let token_id = match initial_token {
        Some(t) => {
            let hash = sha256_b64url(t.as_bytes());
            match store
                .registrations
                .use_token_in(&mut tx, &hash, now)
                .await?
            {
                Some(id) => Some(id),
                None => {
                    return Err(DynamicError::InvalidToken(
                        "the initial access token is unknown, expired, used up or revoked",
                    ));
                }
            }
        }
        None => None,
    };
    let client = store
        .clients
        .insert_in(&mut tx, &registered.client, now)
        .await?;
    let record = StoredRegistration {
        client_id: client.client_id.clone(),
        access_token_hash: sha256_b64url(access_token.as_bytes()),
        metadata: checked.metadata,
        client_id_issued_at: now,
        client_secret_expires_at: secret_expires,
    };
    store
        .registrations
        .insert_registration_in(&mut tx, &record, token_id.as_deref())
        .await?;
    let mut event = Event::new(EventKind::ClientRegistered, Actor::Anonymous)
        .client(client.client_id.clone())
        .with("client_name", client.name.clone());
    if let Some(id) = &token_id {
        event = event.with("initial_token_id", id.clone());
    }
    audit.record_in(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(Registration {
        client_id: client.client_id,
        confidential: registered.secret.is_some(),
        client_secret: registered.secret,
        client_id_issued_at: now,
        client_secret_expires_at: secret_expires,
        registration_access_token: Some(access_token),
        metadata: record.metadata,
    })
}

/// The client and its registration when `access_token` is its registration access
/// token (RFC 7592 section 2); an unknown client and a wrong token look alike.
pub async fn authorize(
    store: &Store,
    client_id: &str,
    access_token: Option<&str>,
) -> Result<(StoredClient, StoredRegistration), DynamicError> {
    const REFUSED: &str = "the registration access token is missing or not this client's";
    let Some(token) = access_token else {
        return Err(DynamicError::InvalidToken(REFUSED));
    };
    let Some(reg) = store.registrations.find_registration(client_id).await? else {
        return Err(DynamicError::InvalidToken(REFUSED));
    };
    let hash = sha256_b64url(token.as_bytes());
    if !constant_time_eq(hash.as_bytes(), reg.access_token_hash.as_bytes()) {
        return Err(DynamicError::InvalidToken(REFUSED));
    }
    let Some(client) = store.clients.find_by_client_id(client_id).await? else {
        return Err(DynamicError::InvalidToken(REFUSED));
    };
    Ok((client, reg))
}

/// RFC 7592 section 2.1: the registration as stored.
pub fn read(client: &StoredClient, reg: StoredRegistration) -> Registration {
    Registration {
        client_id: reg.client_id,
        client_secret: None,
        client_id_issued_at: reg.client_id_issued_at,
        client_secret_expires_at: reg.client_secret_expires_at,
        registration_access_token: None,
        metadata: reg.metadata,
        confidential: client.secret_hash.is_some(),
    }
}

/// RFC 7592 section 2.2: replaces the metadata with `body`'s. `body` names the same
/// `client_id`; a `client_secret` in it must be the current one. A new registration
/// access token is issued (the old one stops working); a secret is issued when the
/// client newly has one, else its secret is kept.
pub async fn update(
    store: &Store,
    audit: &Audit,
    policy: &RegistrationSettings,
    client: &StoredClient,
    reg: StoredRegistration,
    body: &Value,
    now: i64,
) -> Result<Registration, DynamicError> {
    match body.get("client_id") {
        Some(Value::String(id)) if *id == client.client_id => {}
        _ => {
            return Err(MetadataError::Metadata {
                field: "client_id",
                message: "must be this client's client_id (RFC 7592 section 2.2)".into(),
            }
            .into());
        }
    }
    if let Some(secret) = body.get("client_secret") {
        let matches = secret
            .as_str()
            .is_some_and(|s| super::clients::secret_matches(client, s));
        if !matches {
            return Err(MetadataError::Metadata {
                field: "client_secret",
                message: "must be the client's current secret, or left out".into(),
            }
            .into());
        }
    }
    let checked = registration::check(body, policy)?;
    let mut registered = registration::register(checked.registration)?;
    registered.client.client_id = client.client_id.clone();
    let new_secret = if registered.client.public || client.secret_hash.is_some() {
        registered.client.secret_hash = None;
        None
    } else {
        registered.secret.take()
    };
    let secret_expires = match (&new_secret, registered.client.public) {
        (Some(_), _) => secret_expiry(policy, now),
        (None, true) => 0,
        (None, false) => reg.client_secret_expires_at,
    };
    let access_token = random::secret();
    let record = StoredRegistration {
        client_id: client.client_id.clone(),
        access_token_hash: sha256_b64url(access_token.as_bytes()),
        metadata: checked.metadata,
        client_id_issued_at: reg.client_id_issued_at,
        client_secret_expires_at: secret_expires,
    };
    let mut tx = store.db.begin_write().await?;
    if !store
        .registrations
        .replace_in(&mut tx, &registered.client, &record)
        .await?
    {
        return Err(DynamicError::InvalidToken(
            "the registration access token is missing or not this client's",
        ));
    }
    let event = Event::new(
        EventKind::ClientRegistrationUpdated,
        Actor::Client(client.client_id.clone()),
    )
    .client(client.client_id.clone());
    audit.record_in(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(Registration {
        client_id: record.client_id,
        confidential: !registered.client.public,
        client_secret: new_secret,
        client_id_issued_at: record.client_id_issued_at,
        client_secret_expires_at: secret_expires,
        registration_access_token: Some(access_token),
        metadata: record.metadata,
    })
}

/// RFC 7592 section 2.3: deletes the client, and with it its grants, codes and
/// consents, so its tokens stop working.
pub async fn delete(
    store: &Store,
    audit: &Audit,
    client: &StoredClient,
    now: i64,
) -> Result<(), DynamicError> {
    let mut tx = store.db.begin_write().await?;
    store
        .roles
        .delete_client_in(&mut tx, &client.client_id)
        .await?;
    if !store
        .registrations
        .delete_client_in(&mut tx, &client.client_id)
        .await?
    {
        return Err(DynamicError::InvalidToken(
            "the registration access token is missing or not this client's",
        ));
    }
    let event = Event::new(
        EventKind::ClientRegistrationDeleted,
        Actor::Client(client.client_id.clone()),
    )
    .client(client.client_id.clone());
    audit.record_in(&mut tx, event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// When `client`'s secret expires, if it is a self-registered client whose secret does.
pub async fn secret_expires_at(
    store: &Store,
    client: &StoredClient,
) -> Result<Option<i64>, StorageError> {
    Ok(store
        .registrations
        .find_registration(&client.client_id)
        .await?
        .map(|r| r.client_secret_expires_at)
        .filter(|at| *at > 0))
}
