//! The settings reference, `docs/settings.md`, written from `config/default.toml`: its
//! comments are the documentation, so the two cannot drift apart. A unit test fails
//! when the committed file is out of date; `portcullis config reference >
//! docs/settings.md` writes it anew.

use std::fmt::Write as _;

use super::DEFAULT_TOML;

/// The command that writes the reference, named where it is out of date.
pub const REGENERATE: &str = "cargo run -- config reference > docs/settings.md";

/// The reference as Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Settings reference\n\n\
         <!-- Generated from config/default.toml by `portcullis config reference`; do not edit. -->\n\n\
         Every setting, its default and the environment variable that overrides it. \
         `portcullis config check` prints the settings a deployment ends up with.\n",
    );
    let mut section = String::new();
    let mut comment: Vec<&str> = Vec::new();
    // The setting just above, with no blank line between: one comment may describe
    // both (`metrics.bind` and `metrics.token`).
    let mut above: Option<String> = None;
    for line in DEFAULT_TOML.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            above = None;
            paragraph(&mut out, &mut comment);
        } else if let Some(text) = trimmed.strip_prefix('#') {
            let text = text.strip_prefix(' ').unwrap_or(text);
            match setting(text) {
                Some((key, example)) => {
                    above = Some(entry(
                        &mut out,
                        &section,
                        key,
                        None,
                        Some(example),
                        &comment,
                        above.as_deref(),
                    ));
                    comment.clear();
                }
                None => comment.push(text),
            }
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            section = name.trim().to_owned();
            above = None;
            let _ = write!(out, "\n## `[{section}]`\n");
            paragraph(&mut out, &mut comment);
        } else if let Some((key, value)) = setting(trimmed) {
            above = Some(entry(
                &mut out,
                &section,
                key,
                Some(value),
                None,
                &comment,
                above.as_deref(),
            ));
            comment.clear();
        }
    }
    paragraph(&mut out, &mut comment);
    out
}

/// `key = value`, for a line that sets (or, commented out, shows) a setting.
fn setting(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    let is_key = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    is_key.then(|| (key, value.trim()))
}

/// A comment that stands alone (followed by a blank line or a section): prose.
fn paragraph(out: &mut String, comment: &mut Vec<&str>) {
    if comment.is_empty() {
        return;
    }
    out.push('\n');
    push_text(out, comment);
    comment.clear();
}

/// One setting's heading, default, variable and description; returns its name.
fn entry(
    out: &mut String,
    section: &str,
    key: &str,
    default: Option<&str>,
    example: Option<&str>,
    comment: &[&str],
    above: Option<&str>,
) -> String {
    let (name, env) = if section.is_empty() {
        (
            key.to_owned(),
            format!("PORTCULLIS_{}", key.to_ascii_uppercase()),
        )
    } else {
        (
            format!("{section}.{key}"),
            format!(
                "PORTCULLIS_{}__{}",
                section.to_ascii_uppercase().replace('.', "__"),
                key.to_ascii_uppercase()
            ),
        )
    };
    let _ = write!(out, "\n### `{name}`\n\n");
    match (default, example) {
        (Some(value), _) => {
            let _ = writeln!(out, "Default: `{value}`  ");
        }
        (None, Some("\"\"")) => {
            let _ = writeln!(out, "Unset by default  ");
        }
        (None, Some(value)) => {
            let _ = writeln!(out, "Unset by default; for example `{value}`  ");
        }
        (None, None) => {}
    }
    let _ = writeln!(out, "Environment: `{env}`");
    match above {
        _ if !comment.is_empty() => {
            out.push('\n');
            push_text(out, comment);
        }
        Some(above) => {
            let _ = write!(out, "\nDescribed with `{above}` above.\n");
        }
        None => {}
    }
    name
}

/// Comment lines as Markdown: `#` alone breaks a paragraph; indented lines (the
/// examples under `database_url`) are kept as they are, in a code block.
fn push_text(out: &mut String, lines: &[&str]) {
    let mut in_block = false;
    for line in lines {
        let indented = line.starts_with("  ");
        if indented != in_block {
            out.push_str(if indented { "\n```text\n" } else { "```\n\n" });
            in_block = indented;
        }
        if indented {
            let _ = writeln!(out, "{}", line.trim_end());
        } else if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if in_block {
        out.push_str("```\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_settings_reference_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/settings.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/settings.md is out of date with config/default.toml: run `{REGENERATE}`"
        );
    }

    #[test]
    fn every_setting_is_in_the_reference_with_its_variable() {
        let doc = markdown();
        for (name, env) in [
            ("issuer", "PORTCULLIS_ISSUER"),
            ("smtp_url", "PORTCULLIS_SMTP_URL"),
            ("tokens.code_ttl", "PORTCULLIS_TOKENS__CODE_TTL"),
            ("tls.cert_file", "PORTCULLIS_TLS__CERT_FILE"),
            (
                "security.rate_limits.sign_in",
                "PORTCULLIS_SECURITY__RATE_LIMITS__SIGN_IN",
            ),
        ] {
            assert!(doc.contains(&format!("### `{name}`")), "{name}");
            assert!(doc.contains(&format!("`{env}`")), "{env}");
        }
        assert!(doc.contains("Default: `\"60s\"`"), "{doc}");
    }
}
