//! The audit log as a file: JSON Lines (one event an object a line) or CSV (RFC 4180).
//!
//! Bounded, not streamed: an export holds at most `EXPORT_MAX` events, the newest the
//! filter matches, built in memory (a few MB at most). `Export::truncated` says when the
//! filter matched more; narrow it by time to get the rest.
//!
//! CSV cells are safe to open in a spreadsheet: one that starts with `=`, `+`, `-`, `@`,
//! a tab or a carriage return gets a leading `'`, so it is never read as a formula.

use serde_json::json;

use super::filter::format_time;
use crate::storage::AuditListed;

/// The most events one export holds.
pub const EXPORT_MAX: i64 = 10_000;

/// The file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    /// `jsonl` or `csv`, as the query names them.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "jsonl" => Some(Self::JsonLines),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::JsonLines => "application/jsonl; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::JsonLines => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// One export, ready to send.
#[derive(Debug)]
pub struct Export {
    pub body: String,
    pub rows: usize,
    /// The filter matched more than `EXPORT_MAX` events; only the newest are here.
    pub truncated: bool,
}

impl Export {
    /// The HTTP headers to send it with, as (name, value): its type, an attachment
    /// named for `now`, no caching, and whether it was cut at `EXPORT_MAX`.
    pub fn headers(&self, format: Format, now: i64) -> [(&'static str, String); 4] {
        let name = format!(
            "portcullis-audit-{}.{}",
            format_time(now).replace(':', ""),
            format.extension()
        );
        [
            ("content-type", format.content_type().to_owned()),
            (
                "content-disposition",
                format!("attachment; filename=\"{name}\""),
            ),
            ("cache-control", "no-store".to_owned()),
            ("portcullis-export-truncated", self.truncated.to_string()),
        ]
    }

    /// The file as an HTTP response.
    pub fn into_response(self, format: Format, now: i64) -> axum::response::Response {
        use axum::response::IntoResponse;
        let mut headers = axum::http::HeaderMap::new();
        for (name, value) in self.headers(format, now) {
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        (axum::http::StatusCode::OK, headers, self.body).into_response()
    }
}

const CSV_HEADER: &[&str] = &[
    "id",
    "time",
    "event",
    "description",
    "outcome",
    "actor",
    "user_id",
    "username",
    "client_id",
    "ip",
    "user_agent",
    "detail",
];

/// Writes `events` in `format`; `truncated` is passed through.
pub fn render(events: &[AuditListed], format: Format, truncated: bool) -> Export {
    let body = match format {
        Format::JsonLines => json_lines(events),
        Format::Csv => csv(events),
    };
    Export {
        body,
        rows: events.len(),
        truncated,
    }
}

fn json_lines(events: &[AuditListed]) -> String {
    let mut out = String::new();
    for e in events {
        let r = &e.record;
        let line = json!({
            "id": r.id.to_string(),
            "at": r.at,
            "time": format_time(r.at),
            "event": r.event,
            "outcome": r.outcome,
            "actor": r.actor,
            "user_id": r.user_id.map(|u| u.to_string()),
            "username": e.username,
            "client_id": r.client_id,
            "ip": r.ip,
            "user_agent": r.user_agent,
            "detail": r.detail,
        });
        // serde_json escapes newlines inside strings: one event, one line.
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

fn csv(events: &[AuditListed]) -> String {
    let mut out = String::new();
    push_row(&mut out, CSV_HEADER.iter().map(|h| (*h).to_owned()));
    for e in events {
        let r = &e.record;
        push_row(
            &mut out,
            [
                r.id.to_string(),
                format_time(r.at),
                r.event.clone(),
                super::EventKind::describe(&r.event).to_owned(),
                r.outcome.clone(),
                r.actor.clone(),
                r.user_id.map(|u| u.to_string()).unwrap_or_default(),
                e.username.clone().unwrap_or_default(),
                r.client_id.clone().unwrap_or_default(),
                r.ip.clone().unwrap_or_default(),
                r.user_agent.clone().unwrap_or_default(),
                r.detail.to_string(),
            ],
        );
    }
    out
}

fn push_row(out: &mut String, cells: impl IntoIterator<Item = String>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(&cell));
    }
    out.push_str("\r\n");
}

/// One CSV cell: defused against formulas, then quoted (RFC 4180) when it holds a
/// comma, a quote, a line break or the `'` the defusing added.
pub fn csv_cell(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r', '\'']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_defused_and_quoted() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell(""), "");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
        assert_eq!(csv_cell("+1"), "\"'+1\"");
        assert_eq!(csv_cell("-1"), "\"'-1\"");
        assert_eq!(csv_cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(csv_cell("\tx"), "\"'\tx\"");
        assert_eq!(csv_cell("\rx"), "\"'\rx\"");
        // Only the start counts.
        assert_eq!(csv_cell("a=b"), "a=b");
    }
}
