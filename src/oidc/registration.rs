//! Dynamic client registration's rules (RFC 7591 section 2, RFC 7592): client metadata
//! as a self-registering client sends it, checked against `[registration]`'s policy and
//! then against the rules every client meets (`ClientRegistration::register`).
//!
//! What is accepted is echoed back as registered; unknown members are ignored and never
//! echoed, so a client cannot mistake them for accepted (section 3.2.1).

use serde_json::{Map, Value};
use url::Url;

use super::{
    clients::{ClientRegistration, Registered, check_redirect_uri},
    values::{AuthMethod, GrantType},
};
use crate::config::RegistrationSettings;

/// Why a registration request is refused, with the error code of RFC 7591 section
/// 3.2.2 it answers with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetadataError {
    /// `invalid_redirect_uri`.
    #[error("{0}")]
    RedirectUri(String),
    /// `invalid_client_metadata`, naming the member.
    #[error("{field}: {message}")]
    Metadata {
        field: &'static str,
        message: String,
    },
    /// `invalid_software_statement`: Portcullis does not accept software statements.
    #[error("software statements are not accepted here")]
    SoftwareStatement,
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::RedirectUri(_) => "invalid_redirect_uri",
            Self::Metadata { .. } => "invalid_client_metadata",
            Self::SoftwareStatement => "invalid_software_statement",
        }
    }

    /// The member refused.
    pub fn field(&self) -> &'static str {
        match self {
            Self::RedirectUri(_) => "redirect_uris",
            Self::Metadata { field, .. } => field,
            Self::SoftwareStatement => "software_statement",
        }
    }
}

fn refuse<T>(field: &'static str, message: impl Into<String>) -> Result<T, MetadataError> {
    Err(MetadataError::Metadata {
        field,
        message: message.into(),
    })
}

/// The most redirect URIs, contacts or URIs of one kind a client may register.
const MAX_ITEMS: usize = 10;
/// The longest URI accepted.
const MAX_URI: usize = 2000;
/// The longest client name, in characters (as the console allows).
const MAX_NAME: usize = 100;
/// The longest contact, software id or version.
const MAX_TEXT: usize = 254;

/// Metadata checked and ready to store: the client to register, and the metadata as
/// registered (what GET and the registration answer echo).
#[derive(Debug)]
pub struct CheckedMetadata {
    pub registration: ClientRegistration,
    pub metadata: Value,
}

/// Checks a registration (or RFC 7592 update) request's metadata, `body`, against the
/// policy and RFC 7591 section 2's rules.
pub fn check(
    body: &Value,
    policy: &RegistrationSettings,
) -> Result<CheckedMetadata, MetadataError> {
    let Some(body) = body.as_object() else {
        return refuse("metadata", "the request body must be a JSON object");
    };
    if body.contains_key("software_statement") {
        return Err(MetadataError::SoftwareStatement);
    }
    let mut echoed = Map::new();

    let redirect_uris = strings(body, "redirect_uris")?.unwrap_or_default();
    if redirect_uris.len() > MAX_ITEMS {
        return Err(MetadataError::RedirectUri(format!(
            "at most {MAX_ITEMS} redirect URIs"
        )));
    }
    for uri in &redirect_uris {
        check_registered_redirect(uri)?;
    }
    let post_logout = strings(body, "post_logout_redirect_uris")?.unwrap_or_default();
    if post_logout.len() > MAX_ITEMS {
        return refuse("post_logout_redirect_uris", format!("at most {MAX_ITEMS}"));
    }
    for uri in &post_logout {
        check_registered_redirect(uri).map_err(|e| MetadataError::Metadata {
            field: "post_logout_redirect_uris",
            message: e.to_string(),
        })?;
    }

    // Section 2: the defaults are authorization_code and code; section 2.1: the two
    // lists must agree.
    let grant_types = strings(body, "grant_types")?
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
    let grant_types = dedup(grant_types);
    for g in &grant_types {
        if GrantType::parse(g).is_none() {
            return refuse(
                "grant_types",
                format!("grant type `{}` is not supported", printable(g)),
            );
        }
        if !policy.grant_types.contains(g) {
            return refuse(
                "grant_types",
                format!(
                    "grant type `{g}` may not be registered here (allowed: {})",
                    policy.grant_types.join(", ")
                ),
            );
        }
    }
    let response_types = dedup(strings(body, "response_types")?.unwrap_or_else(|| {
        if grant_types.iter().any(|g| g == "authorization_code") {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }
    }));
    for r in &response_types {
        if r != "code" {
            return refuse(
                "response_types",
                format!(
                    "response type `{}` is not supported (only code)",
                    printable(r)
                ),
            );
        }
    }
    let uses_code = grant_types.iter().any(|g| g == "authorization_code");
    if uses_code != response_types.iter().any(|r| r == "code") {
        return refuse(
            "response_types",
            "response type code and grant type authorization_code go together (RFC 7591 section 2.1)",
        );
    }
    if uses_code && redirect_uris.is_empty() {
        return Err(MetadataError::RedirectUri(
            "a client using authorization_code needs at least one redirect URI".into(),
        ));
    }

    let method = match text(body, "token_endpoint_auth_method")? {
        Some(m) => m,
        None => AuthMethod::ClientSecretBasic.as_str().to_owned(),
    };
    if AuthMethod::parse(&method).is_none() || !policy.token_endpoint_auth_methods.contains(&method)
    {
        return refuse(
            "token_endpoint_auth_method",
            format!(
                "`{}` may not be registered here (allowed: {})",
                printable(&method),
                policy.token_endpoint_auth_methods.join(", ")
            ),
        );
    }
    let public = method == AuthMethod::None.as_str();

    let scopes = match text(body, "scope")? {
        Some(s) => {
            let asked: Vec<String> = dedup(
                s.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
            if asked.is_empty() {
                return refuse("scope", "name at least one scope, or leave scope out");
            }
            if let Some(bad) = asked.iter().find(|s| !policy.scopes.contains(s)) {
                return refuse(
                    "scope",
                    format!(
                        "scope `{}` may not be registered here (allowed: {})",
                        printable(bad),
                        policy.scopes.join(" ")
                    ),
                );
            }
            asked
        }
        None => policy.scopes.clone(),
    };

    let name = match text(body, "client_name")? {
        Some(n) => {
            check_name(&n)?;
            n.trim().to_owned()
        }
        None => redirect_uris
            .first()
            .and_then(|u| Url::parse(u).ok())
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "Unnamed app".to_owned()),
    };

    for field in [
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "jwks_uri",
    ] {
        if let Some(uri) = text(body, field)? {
            check_web_uri(field, &uri)?;
            echoed.insert(field.into(), Value::from(uri));
        }
    }
    if let Some(jwks) = body.get("jwks") {
        if body.contains_key("jwks_uri") {
            return refuse(
                "jwks",
                "send jwks or jwks_uri, not both (RFC 7591 section 2)",
            );
        }
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return refuse(
                "jwks",
                "jwks must be a JSON Web Key Set: an object with a keys array",
            );
        }
        echoed.insert("jwks".into(), jwks.clone());
    }
    if let Some(contacts) = strings(body, "contacts")? {
        if contacts.len() > MAX_ITEMS {
            return refuse("contacts", format!("at most {MAX_ITEMS} contacts"));
        }
        for c in &contacts {
            check_text("contacts", c)?;
        }
        echoed.insert("contacts".into(), Value::from(contacts));
    }
    for field in ["software_id", "software_version"] {
        if let Some(v) = text(body, field)? {
            check_text(field, &v)?;
            echoed.insert(field.into(), Value::from(v));
        }
    }

    echoed.insert("client_name".into(), Value::from(name.clone()));
    echoed.insert("redirect_uris".into(), Value::from(redirect_uris.clone()));
    if !post_logout.is_empty() {
        echoed.insert(
            "post_logout_redirect_uris".into(),
            Value::from(post_logout.clone()),
        );
    }
    echoed.insert("grant_types".into(), Value::from(grant_types.clone()));
    echoed.insert("response_types".into(), Value::from(response_types));
    echoed.insert(
        "token_endpoint_auth_method".into(),
        Value::from(method.clone()),
    );
    echoed.insert("scope".into(), Value::from(scopes.join(" ")));

    let registration = ClientRegistration {
        name,
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        public,
        grant_types,
        scopes,
        first_party: false,
        token_endpoint_auth_methods: vec![method],
        resource_audiences: Vec::new(),
        require_second_factor: false,
    };
    Ok(CheckedMetadata {
        registration,
        metadata: Value::Object(echoed),
    })
}

/// Runs the rules every client meets; what they refuse is refused metadata.
pub fn register(checked: ClientRegistration) -> Result<Registered, MetadataError> {
    checked.register().map_err(|e| {
        let message = e.to_string();
        if message.contains("redirect URI") {
            MetadataError::RedirectUri(message)
        } else {
            MetadataError::Metadata {
                field: "metadata",
                message,
            }
        }
    })
}

/// A redirect URI a self-registered client may have: what every client may have
/// (`check_redirect_uri`), at most `MAX_URI` long, and a private-use scheme only as a
/// reverse domain name (RFC 8252 section 7.1), so two apps cannot both claim `myapp:`.
fn check_registered_redirect(uri: &str) -> Result<(), MetadataError> {
    if uri.len() > MAX_URI {
        return Err(MetadataError::RedirectUri(format!(
            "a redirect URI is at most {MAX_URI} characters"
        )));
    }
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(MetadataError::RedirectUri(
            "a redirect URI must not contain spaces or control characters".into(),
        ));
    }
    check_redirect_uri(uri).map_err(|e| MetadataError::RedirectUri(e.to_string()))?;
    if let Ok(url) = Url::parse(uri) {
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" && !scheme.contains('.') {
            return Err(MetadataError::RedirectUri(format!(
                "redirect URI `{uri}`: a native app's scheme must be a reverse domain name it owns, like com.example.app (RFC 8252 section 7.1)"
            )));
        }
    }
    Ok(())
}

/// `client_uri`, `logo_uri`, `tos_uri`, `policy_uri`, `jwks_uri`: absolute https URLs
/// (http only on a loopback host, for development), no credentials in them.
fn check_web_uri(field: &'static str, raw: &str) -> Result<(), MetadataError> {
    if raw.len() > MAX_URI || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return refuse(
            field,
            format!("must be a URL of at most {MAX_URI} characters, without spaces"),
        );
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse(field, "must be an absolute URL");
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let ok = match url.scheme() {
        "https" => true,
        "http" => loopback,
        _ => false,
    };
    if !ok || url.host_str().is_none() {
        return refuse(field, "must be an https URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse(field, "must not carry a user name or password");
    }
    Ok(())
}

/// Characters a name must not have: control characters, and those that reorder or hide
/// text (bidirectional overrides, zero-width), which could make one app pass for another.
fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn check_name(name: &str) -> Result<(), MetadataError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME {
        return refuse("client_name", format!("must be 1 to {MAX_NAME} characters"));
    }
    if name.chars().any(deceptive) {
        return refuse(
            "client_name",
            "must not contain control or invisible characters",
        );
    }
    Ok(())
}

fn check_text(field: &'static str, value: &str) -> Result<(), MetadataError> {
    if value.trim().is_empty() || value.len() > MAX_TEXT || value.chars().any(deceptive) {
        return refuse(
            field,
            format!("each must be 1 to {MAX_TEXT} bytes, without control or invisible characters"),
        );
    }
    Ok(())
}

/// A member that must be a string, if present (JSON null counts as absent).
fn text(body: &Map<String, Value>, field: &'static str) -> Result<Option<String>, MetadataError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => refuse(field, "must be a string"),
    }
}

/// A member that must be an array of strings, if present.
fn strings(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, MetadataError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                _ => refuse(field, "must be an array of strings"),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => refuse(field, "must be an array of strings"),
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

/// A value quoted back in an error, with what could garble a terminal or a log removed.
fn printable(raw: &str) -> String {
    raw.chars().filter(|c| !deceptive(*c)).take(64).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::RegistrationMode;

    fn policy() -> RegistrationSettings {
        RegistrationSettings {
            mode: RegistrationMode::Open,
            cimd_allow_hosts: Vec::new(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            token_endpoint_auth_methods: vec![
                "none".into(),
                "client_secret_basic".into(),
                "client_secret_post".into(),
            ],
            client_secret_lifetime: None,
        }
    }

    fn code_of(body: Value) -> &'static str {
        match check(&body, &policy()) {
            Ok(_) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn the_defaults_of_rfc_7591_are_filled_in_and_echoed() {
        let c = check(
            &json!({"redirect_uris": ["https://app.example/cb"]}),
            &policy(),
        )
        .expect("ok");
        assert_eq!(c.metadata["grant_types"], json!(["authorization_code"]));
        assert_eq!(c.metadata["response_types"], json!(["code"]));
        assert_eq!(
            c.metadata["token_endpoint_auth_method"],
            "client_secret_basic"
        );
        assert_eq!(c.metadata["client_name"], "app.example");
        assert_eq!(c.metadata["scope"], "openid profile email");
        assert!(!c.registration.public);
    }

    #[test]
    fn unknown_members_are_ignored_and_not_echoed() {
        let c = check(
            &json!({"redirect_uris": ["https://a.example/cb"], "frobnicate": true, "client_name#fr": "X"}),
            &policy(),
        )
        .expect("ok");
        assert!(c.metadata.get("frobnicate").is_none());
        assert!(c.metadata.get("client_name#fr").is_none());
    }

    #[test]
    fn bad_redirect_uris_are_invalid_redirect_uri() {
        for bad in [
            "https://a.example/cb#frag",
            "http://a.example/cb",
            "javascript:alert(1)",
            "myapp:/cb",
            "https://a.example/c b",
            "/relative",
        ] {
            assert_eq!(
                code_of(json!({"redirect_uris": [bad]})),
                "invalid_redirect_uri",
                "{bad}"
            );
        }
        assert_eq!(code_of(json!({})), "invalid_redirect_uri");
        assert_eq!(
            code_of(json!({"redirect_uris": ["com.example.app:/cb"]})),
            "ok"
        );
        assert_eq!(
            code_of(json!({"redirect_uris": ["http://127.0.0.1:9/cb"]})),
            "ok"
        );
    }

    #[test]
    fn grant_and_response_types_must_agree_and_fit_the_policy() {
        let uris = json!(["https://a.example/cb"]);
        for body in [
            json!({"redirect_uris": uris, "response_types": ["token"]}),
            json!({"redirect_uris": uris, "grant_types": ["refresh_token"], "response_types": ["code"]}),
            json!({"redirect_uris": uris, "grant_types": ["authorization_code"], "response_types": []}),
            json!({"redirect_uris": uris, "grant_types": ["client_credentials"]}),
            json!({"redirect_uris": uris, "grant_types": ["password"]}),
            json!({"redirect_uris": uris, "scope": "openid portcullis:admin"}),
            json!({"redirect_uris": uris, "token_endpoint_auth_method": "private_key_jwt"}),
        ] {
            assert_eq!(code_of(body.clone()), "invalid_client_metadata", "{body}");
        }
    }

    #[test]
    fn hostile_strings_are_refused_by_the_member() {
        let uris = json!(["https://a.example/cb"]);
        for (body, field) in [
            (
                json!({"redirect_uris": uris, "client_name": "Bank\u{0}"}),
                "client_name",
            ),
            (
                json!({"redirect_uris": uris, "client_name": "evil\u{202E}lppa"}),
                "client_name",
            ),
            (
                json!({"redirect_uris": uris, "client_name": "x".repeat(101)}),
                "client_name",
            ),
            (
                json!({"redirect_uris": uris, "client_uri": "javascript:alert(1)"}),
                "client_uri",
            ),
            (
                json!({"redirect_uris": uris, "logo_uri": "http://evil.example/x.png"}),
                "logo_uri",
            ),
            (
                json!({"redirect_uris": uris, "contacts": ["a\nb"]}),
                "contacts",
            ),
            (
                json!({"redirect_uris": uris, "contacts": "a@b"}),
                "contacts",
            ),
            (
                json!({"redirect_uris": uris, "jwks": {"keys": []}, "jwks_uri": "https://a.example/j"}),
                "jwks",
            ),
        ] {
            let e = check(&body, &policy()).expect_err("refused");
            assert_eq!(e.field(), field, "{body}");
        }
    }

    #[test]
    fn a_software_statement_is_refused_as_such() {
        assert_eq!(
            code_of(
                json!({"redirect_uris": ["https://a.example/cb"], "software_statement": "e30.e30."})
            ),
            "invalid_software_statement"
        );
    }

    #[test]
    fn a_public_client_registers_with_none() {
        let c = check(
            &json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}),
            &policy(),
        )
        .expect("ok");
        assert!(c.registration.public);
        assert!(register(c.registration).expect("rules").secret.is_none());
    }
}
