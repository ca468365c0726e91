//! `portcullis client ...`: the apps that sign people in through Portcullis.

use super::{CommandError, open_store};
use crate::{
    clock::Clock, config::Config, crypto::Secret, oidc::clients::ClientRegistration,
    storage::StoredClient,
};

/// `portcullis client add`: the stored client and its secret, shown this once.
pub async fn client_add(
    config: &Config,
    registration: ClientRegistration,
) -> Result<(StoredClient, Option<String>), CommandError> {
    let (client, secret) = register(config, registration).await?;
    Ok((client, secret.map(Secret::into_exposed)))
}

async fn register(
    config: &Config,
    registration: ClientRegistration,
) -> Result<(StoredClient, Option<Secret>), CommandError> {
    let registered = registration.register()?;
    let store = open_store(config).await?;
    let client = store
        .clients
        .insert(registered.client, Clock::system().now())
        .await?;
    store.db.close().await;
    Ok((client, registered.secret.map(Secret::from)))
}

/// `portcullis client list`
pub async fn client_list(config: &Config) -> Result<Vec<StoredClient>, CommandError> {
    let store = open_store(config).await?;
    let clients = store.clients.list().await?;
    store.db.close().await;
    Ok(clients)
}

/// `portcullis client add`, as the CLI runs it: prints the client_id and the secret,
/// or with `json`, `{"client_id": ..., "client_secret": ...}` (null for a public client).
pub async fn add(
    config: &Config,
    registration: ClientRegistration,
    json: bool,
) -> Result<(), CommandError> {
    let (client, secret) = register(config, registration).await?;
    if json {
        println!(
            "{{\"client_id\": {}, \"client_secret\": {}}}",
            serde_json::Value::from(client.client_id),
            secret.map_or(serde_json::Value::Null, |s| {
                serde_json::Value::from(s.into_exposed())
            })
        );
    } else {
        println!("client_id:     {}", client.client_id);
        match secret {
            Some(s) => {
                println!("client_secret: {}", s.expose());
                println!("The secret is shown only this once: store it now.");
            }
            None => println!("public client: no secret; it must use PKCE (S256)"),
        }
    }
    Ok(())
}

/// `portcullis client list`, as the CLI runs it: a line per client, or a JSON array.
pub async fn list(config: &Config, json: bool) -> Result<(), CommandError> {
    let clients = client_list(config).await?;
    if json {
        let list: Vec<_> = clients
            .iter()
            .map(|c| {
                serde_json::json!({
                    "client_id": c.client_id, "name": c.name, "public": c.public,
                    "redirect_uris": c.redirect_uris, "grant_types": c.grant_types,
                    "post_logout_redirect_uris": c.post_logout_redirect_uris,
                    "scopes": c.allowed_scopes, "first_party": c.first_party,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
    } else if clients.is_empty() {
        println!("no clients yet: add one with `portcullis client add`");
    } else {
        for c in clients {
            let kind = if c.public { "public" } else { "confidential" };
            println!(
                "{}  {}  ({kind}; {})  {}",
                c.client_id,
                c.name,
                c.grant_types.join(", "),
                c.redirect_uris.join(" ")
            );
        }
    }
    Ok(())
}

/// `portcullis client token`: makes an initial access token for dynamic client
/// registration (RFC 7591 section 3) and returns it with its record, shown this once.
pub async fn client_token(
    config: &Config,
    request: crate::oidc::dynamic::TokenRequest,
) -> Result<crate::oidc::dynamic::NewToken, CommandError> {
    use crate::oidc::dynamic::{TokenError, create_token};
    let store = open_store(config).await?;
    let audit = crate::audit::Audit::new(store.audit.clone());
    let made = create_token(
        &store,
        &audit,
        crate::audit::Actor::Cli,
        request,
        Clock::system().now(),
    )
    .await;
    store.db.close().await;
    made.map_err(|e| match e {
        TokenError::Field(f) => {
            CommandError::Usage(format!("--{}: {}", f.field.replace('_', "-"), f.message))
        }
        TokenError::Storage(s) => CommandError::Storage(s),
    })
}

/// `portcullis client token`, as the CLI runs it: prints the token once, or with
/// `json`, `{"id": ..., "token": ..., "expires_at": ..., "max_uses": ...}`.
pub async fn token(
    config: &Config,
    request: crate::oidc::dynamic::TokenRequest,
    json: bool,
) -> Result<(), CommandError> {
    let made = client_token(config, request).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": made.token.id, "token": made.secret,
                "expires_at": made.token.expires_at, "max_uses": made.token.max_uses,
            })
        );
    } else {
        println!("initial access token: {}", made.secret);
        println!("id:                   {}", made.token.id);
        println!("expires at (unix):    {}", made.token.expires_at);
        match made.token.max_uses {
            Some(n) => println!("registrations:        at most {n}"),
            None => println!("registrations:        any number until it expires"),
        }
        println!("The token is shown only this once: give it to the app's developer now.");
    }
    Ok(())
}
