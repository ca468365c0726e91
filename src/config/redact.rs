//! What `portcullis config check` must not print: the secrets among the settings.
//!
//! A URL keeps everything but its password, so an operator can still see which host,
//! user and database are meant; a secret setting is replaced whole.

/// Shown in place of a secret.
pub(super) const REDACTED: &str = "<redacted>";

/// Settings whose value is a secret, by their dotted name.
const SECRETS: &[&str] = &["keys.encryption_key", "metrics.token"];

/// Settings that are URLs which may carry a password.
const URLS: &[&str] = &["database_url", "smtp_url"];

/// A setting's last name part that marks it secret, whatever its section: a secret
/// added later is redacted without anyone remembering this list.
const SECRET_SUFFIXES: &[&str] = &["password", "secret", "token", "_key"];

/// Redacts every secret in the merged settings, in place.
pub(super) fn table(table: &mut toml::Table) {
    walk(table, "");
}

fn walk(table: &mut toml::Table, prefix: &str) {
    for (key, value) in table.iter_mut() {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => walk(inner, &name),
            toml::Value::String(s) if URLS.contains(&name.as_str()) => *s = url(s),
            toml::Value::String(s) if s.is_empty() => {}
            other if is_secret(&name, key) => *other = toml::Value::String(REDACTED.to_owned()),
            _ => {}
        }
    }
}

fn is_secret(name: &str, key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRETS.contains(&name) || SECRET_SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// `scheme://user:password@host/…?password=…` with both passwords redacted.
fn url(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://").map(|i| i + 3) else {
        return raw.to_owned();
    };
    let (head, rest) = raw.split_at(scheme_end);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:{REDACTED}{host}"),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    format!("{head}{authority}{}", query(tail))
}

/// A query's `password=` (libpq and sqlx accept one) redacted.
fn query(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_keeps_all_but_its_password() {
        assert_eq!(
            url("postgres://portcullis:hunter2@db:5432/portcullis"),
            "postgres://portcullis:<redacted>@db:5432/portcullis"
        );
        assert_eq!(
            url("postgres://u:p%40ss@db/x?sslmode=require&password=hunter2"),
            "postgres://u:<redacted>@db/x?sslmode=require&password=<redacted>"
        );
        assert_eq!(
            url("smtps://me%40example.com:a:b@mail.example.com"),
            "smtps://me%40example.com:<redacted>@mail.example.com"
        );
        assert_eq!(
            url("sqlite://data/portcullis.db"),
            "sqlite://data/portcullis.db"
        );
        assert_eq!(url("smtp://relay:25"), "smtp://relay:25");
        assert_eq!(url("not a url"), "not a url");
    }

    #[test]
    fn secret_settings_are_replaced_and_others_kept() {
        let mut t: toml::Table = toml::from_str(
            "database_url = \"postgres://u:hunter2@db/x\"\n\
             [keys]\nencryption_key = \"AAAA\"\nrotate_every = \"90d\"\n\
             [metrics]\ntoken = \"0123456789abcdef\"\n\
             [tls]\nkey_file = \"/etc/tls/key.pem\"\n\
             [webhooks]\nsigning_secret = \"s3cr3t\"\nretries = 3",
        )
        .expect("toml");
        table(&mut t);
        let shown = toml::to_string(&t).expect("toml");
        for secret in ["hunter2", "AAAA", "0123456789abcdef", "s3cr3t"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("/etc/tls/key.pem"),
            "a path is no secret: {shown}"
        );
        assert!(shown.contains("rotate_every = \"90d\""), "{shown}");
        assert!(shown.contains("retries = 3"), "{shown}");
    }
}
