//! Client registration rules (RFC 6749 section 2, RFC 9700 section 4.1) and client
//! authentication with a shared secret.

use url::Url;

use super::{
    scopes::Scopes,
    values::{AuthMethod, GrantType},
};
use crate::{
    crypto::{constant_time_eq, random, sha256_b64url},
    storage::{ClientStore, NewClient, StorageError, StoredClient},
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistrationError {
    #[error("{0}")]
    Invalid(String),
}

fn invalid<T>(message: impl Into<String>) -> Result<T, RegistrationError> {
    Err(RegistrationError::Invalid(message.into()))
}

/// What an admin asks for when registering a client.
#[derive(Debug, Default)]
pub struct ClientRegistration {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    /// How it authenticates at the token endpoint; empty: `client_secret_basic` for a
    /// confidential client, `none` for a public one. A client may register several.
    pub token_endpoint_auth_methods: Vec<String>,
    /// Audiences it serves as a resource server (it may introspect their tokens).
    pub resource_audiences: Vec<String>,
    /// Everyone who signs in to it must pass a second factor.
    pub require_second_factor: bool,
}

/// A registration ready to store, and the secret to show once (confidential clients).
#[derive(Debug)]
pub struct Registered {
    pub client: NewClient,
    pub secret: Option<String>,
}

/// Checks a redirect URI: absolute, no fragment (RFC 6749 section 3.1.2), https — or
/// http only on a loopback host, or a private-use scheme for native apps (RFC 8252,
/// RFC 9700 section 2.1). Compared later as an exact string.
pub fn check_redirect_uri(raw: &str) -> Result<(), RegistrationError> {
    let url = match Url::parse(raw) {
        Ok(u) => u,
        Err(_) => return invalid(format!("redirect URI `{raw}` is not an absolute URI")),
    };
    if raw.contains('#') {
        return invalid(format!("redirect URI `{raw}` must not have a fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if !loopback {
                return invalid(format!(
                    "redirect URI `{raw}` uses http on a non-loopback host; use https"
                ));
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" | "ftp" | "ws" | "wss" => {
            return invalid(format!("redirect URI `{raw}` has a forbidden scheme"));
        }
        _ => {}
    }
    if url.cannot_be_a_base() && !raw.contains(":/") {
        return invalid(format!("redirect URI `{raw}` is not a usable URI"));
    }
    Ok(())
}

impl ClientRegistration {
    pub fn register(self) -> Result<Registered, RegistrationError> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return invalid("a client name must be 1 to 100 characters");
        }
        let mut grant_types = Vec::new();
        for g in &self.grant_types {
            if GrantType::parse(g).is_none() {
                let known: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
                return invalid(format!(
                    "unknown grant type `{g}` (known: {})",
                    known.join(", ")
                ));
            }
            if !grant_types.contains(g) {
                grant_types.push(g.clone());
            }
        }
        if grant_types.is_empty() {
            grant_types = vec!["authorization_code".into(), "refresh_token".into()];
        }
        if self.public && grant_types.iter().any(|g| g == "client_credentials") {
            return invalid("a public client cannot use client_credentials: it has no secret");
        }
        let uses_code = grant_types.iter().any(|g| g == "authorization_code");
        if uses_code && self.redirect_uris.is_empty() {
            return invalid("a client using authorization_code needs at least one --redirect-uri");
        }
        if grant_types.iter().any(|g| g == "refresh_token") && !uses_code {
            return invalid("refresh_token needs authorization_code too");
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            check_redirect_uri(uri)?;
        }
        let scopes = if self.scopes.is_empty() {
            super::scopes::DEFAULT_ALLOWED
                .iter()
                .map(|s| s.to_string())
                .collect()
        } else {
            let joined = self.scopes.join(" ");
            match Scopes::parse(&joined) {
                Some(s) if !s.is_empty() => s.into_vec(),
                _ => {
                    return invalid(
                        "a scope must be printable ASCII without spaces, quotes or backslashes",
                    );
                }
            }
        };
        let mut auth_methods: Vec<String> = Vec::new();
        for m in &self.token_endpoint_auth_methods {
            let Some(method) = AuthMethod::parse(m) else {
                let known: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
                return invalid(format!(
                    "unknown token endpoint auth method `{m}` (known: {})",
                    known.join(", ")
                ));
            };
            if (method == AuthMethod::None) != self.public {
                return invalid(if self.public {
                    "a public client has no secret: its only method is `none`"
                } else {
                    "a confidential client authenticates with its secret, not `none`"
                });
            }
            if !auth_methods.iter().any(|a| a == method.as_str()) {
                auth_methods.push(method.as_str().to_owned());
            }
        }
        if auth_methods.is_empty() {
            let default = if self.public {
                AuthMethod::None
            } else {
                AuthMethod::ClientSecretBasic
            };
            auth_methods.push(default.as_str().to_owned());
        }
        let mut resource_audiences: Vec<String> = Vec::new();
        for aud in &self.resource_audiences {
            let aud = aud.trim();
            if aud.is_empty() || aud.len() > 256 || aud.chars().any(char::is_control) {
                return invalid("a resource audience must be 1 to 256 printable characters");
            }
            if !resource_audiences.iter().any(|a| a == aud) {
                resource_audiences.push(aud.to_owned());
            }
        }
        let secret = (!self.public).then(random::secret);
        let redirect_uris = dedup(self.redirect_uris);
        let client = NewClient {
            client_id: random::id(),
            secret_hash: secret.as_deref().map(|s| sha256_b64url(s.as_bytes())),
            name,
            origins: origins_of(&redirect_uris),
            redirect_uris,
            post_logout_redirect_uris: dedup(self.post_logout_redirect_uris),
            grant_types,
            public: self.public,
            token_endpoint_auth_methods: auth_methods,
            allowed_scopes: scopes,
            first_party: self.first_party,
            resource_audiences,
            require_second_factor: self.require_second_factor,
        };
        Ok(Registered { client, secret })
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Whether `secret` is this confidential client's secret, in constant time.
pub fn secret_matches(client: &StoredClient, secret: &str) -> bool {
    match &client.secret_hash {
        Some(hash) => {
            constant_time_eq(sha256_b64url(secret.as_bytes()).as_bytes(), hash.as_bytes())
        }
        None => false,
    }
}

/// Whether `client` is registered for `grant_type`.
pub fn allows_grant(client: &StoredClient, grant_type: GrantType) -> bool {
    client.grant_types.iter().any(|g| g == grant_type.as_str())
}

/// Whether `client` registered `method` for the token endpoint (RFC 7591 section 2).
pub fn allows_auth_method(client: &StoredClient, method: AuthMethod) -> bool {
    client
        .token_endpoint_auth_methods
        .iter()
        .any(|m| m == method.as_str())
}

/// The web origin (`scheme://host[:port]`) of an http(s) URI.
pub fn web_origin(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

/// The distinct web origins of `uris`.
pub fn origins_of(uris: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in uris.iter().filter_map(|u| web_origin(u)) {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

/// Whether a redirect URI belongs to a native app that any local program could claim
/// (RFC 8252 sections 7.1 and 7.3): a private-use scheme, or http on a loopback address.
pub fn is_native_redirect(uri: &str) -> bool {
    match Url::parse(uri) {
        Ok(url) => match url.scheme() {
            "https" => false,
            "http" => matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
            _ => true,
        },
        Err(_) => true,
    }
}

/// Records the origins of clients registered before origins were kept; run at start.
pub async fn backfill_origins(
    clients: &ClientStore,
    db: &crate::storage::Db,
) -> Result<(), StorageError> {
    let missing = clients.without_origins().await?;
    if missing.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    for c in &missing {
        clients
            .add_origins_in(&mut tx, &c.client_id, &origins_of(&c.redirect_uris))
            .await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(uris: &[&str]) -> ClientRegistration {
        ClientRegistration {
            name: "App".into(),
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_confidential_client_gets_a_256_bit_secret_stored_as_its_hash() {
        let r = reg(&["https://app.example.com/cb"])
            .register()
            .expect("valid");
        let secret = r.secret.expect("confidential");
        assert_eq!(secret.len(), 43);
        assert_eq!(
            r.client.grant_types,
            vec!["authorization_code", "refresh_token"]
        );
        assert_eq!(
            r.client.token_endpoint_auth_methods,
            vec!["client_secret_basic"]
        );
        assert_ne!(r.client.secret_hash.as_deref(), Some(secret.as_str()));
    }

    #[test]
    fn relative_fragment_and_dangerous_redirect_uris_are_refused() {
        for bad in [
            "/cb",
            "https://app.example.com/cb#x",
            "javascript:alert(1)",
            "http://app.example.com/cb",
            "data:text/html,x",
        ] {
            assert!(reg(&[bad]).register().is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_http_and_private_use_schemes_are_allowed() {
        for good in [
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(reg(&[good]).register().is_ok(), "{good}");
        }
    }

    #[test]
    fn unknown_grant_types_and_secretless_client_credentials_are_refused() {
        let mut r = reg(&["https://a.example/cb"]);
        r.grant_types = vec!["password".into()];
        assert!(r.register().is_err());
        let mut r = reg(&[]);
        r.public = true;
        r.grant_types = vec!["client_credentials".into()];
        assert!(r.register().is_err());
    }

    #[test]
    fn a_client_credentials_client_needs_no_redirect_uri() {
        let mut r = reg(&[]);
        r.grant_types = vec!["client_credentials".into()];
        assert!(r.register().is_ok());
        assert!(reg(&[]).register().is_err());
    }

    #[test]
    fn auth_methods_must_fit_the_kind_of_client() {
        let mut r = reg(&["https://a.example/cb"]);
        r.token_endpoint_auth_methods =
            vec!["client_secret_post".into(), "client_secret_basic".into()];
        let ok = r.register().expect("both secrets");
        assert_eq!(
            ok.client.token_endpoint_auth_methods,
            vec!["client_secret_post", "client_secret_basic"]
        );
        for (public, method) in [
            (false, "none"),
            (true, "client_secret_basic"),
            (false, "private_key_jwt"),
        ] {
            let mut r = reg(&["https://a.example/cb"]);
            r.public = public;
            r.token_endpoint_auth_methods = vec![method.into()];
            assert!(r.register().is_err(), "{public} {method}");
        }
        let mut r = reg(&["https://a.example/cb"]);
        r.public = true;
        assert_eq!(
            r.register()
                .expect("public")
                .client
                .token_endpoint_auth_methods,
            vec!["none"]
        );
    }

    #[test]
    fn origins_are_recorded_for_web_redirect_uris_only() {
        let r = reg(&[
            "https://a.example/cb",
            "https://a.example/other",
            "com.example.app:/cb",
            "http://127.0.0.1:9/cb",
        ])
        .register()
        .expect("valid");
        assert_eq!(
            r.client.origins,
            vec!["https://a.example", "http://127.0.0.1:9"]
        );
    }

    #[test]
    fn loopback_and_private_use_redirects_are_native() {
        assert!(is_native_redirect("http://127.0.0.1:4000/cb"));
        assert!(is_native_redirect("http://[::1]/cb"));
        assert!(is_native_redirect("com.example.app:/oauth2redirect"));
        assert!(!is_native_redirect("https://app.example/cb"));
    }
}
