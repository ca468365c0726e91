//! `portcullis config check` and `portcullis config reference`: what a deployment's
//! settings come to, and the documentation of every setting.

use std::{
    io::{self, Write as _},
    path::Path,
};

use crate::config::{Config, ConfigError, reference};

/// `portcullis config check`: validates the layers (defaults, `--config FILE`, the
/// environment) and prints the effective settings as TOML with secrets redacted,
/// then the variables ignored and anything an operator should look at twice.
/// A bad setting is the usual one line on standard error, exit code 2 (in `main`).
pub fn check(file: Option<&Path>) -> Result<(), ConfigError> {
    let (config, shown) = Config::load_effective(file)?;
    let mut text = String::from("# The effective settings (secrets redacted). They are valid.\n");
    text.push_str(&shown);
    if !config.ignored_environment.is_empty() {
        text.push_str("\n# Ignored: environment variables that are not settings\n");
        for name in &config.ignored_environment {
            text.push_str(&format!("#   {name}\n"));
        }
    }
    let warnings = config.warnings();
    if !warnings.is_empty() {
        text.push_str("\n# Warnings\n");
        for warning in warnings {
            text.push_str(&format!("#   {warning}\n"));
        }
    }
    write_out(&text);
    Ok(())
}

/// Standard output closed early (`| head`) is the reader's choice, not an error.
fn write_out(text: &str) {
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

/// `portcullis config reference`: `docs/settings.md`, from `config/default.toml`.
pub fn print_reference() {
    write_out(&reference::markdown());
}
