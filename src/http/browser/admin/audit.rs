//! The console's audit pages: `/admin/audit` (a GET filter form, the events newest
//! first, a pager) and `/admin/audit/export` (the same filter as a file). The filter
//! is read by `audit::filter::FilterInput::resolve`, as the admin API reads it.

use axum::{
    Router,
    extract::{Query, State, rejection::QueryRejection},
    http::{StatusCode, Uri},
    response::Response,
    routing::get,
};
use serde::Deserialize;
use tower_sessions::Session;

use super::guard::{self, Chrome};
use crate::{
    AppState,
    audit::{
        EventKind,
        export::Format,
        filter::{ALL_KINDS, FilterError, FilterInput, format_time},
    },
    http::page::{PageError, render},
    storage::AuditListed,
};

/// Events a page of the log shows.
const PAGE_SIZE: i64 = 50;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/audit", get(audit_page))
        .route("/admin/audit/export", get(export))
}

/// The filter form's fields, the page's offset and (for the export) the format.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AuditForm {
    #[serde(flatten)]
    filter: FilterInput,
    offset: Option<String>,
    format: Option<String>,
}

/// One row of the table, ready to show.
struct Row {
    time: String,
    description: &'static str,
    event: String,
    ok: bool,
    actor: String,
    user: String,
    client: String,
    ip: String,
}

impl From<&AuditListed> for Row {
    fn from(e: &AuditListed) -> Self {
        let r = &e.record;
        Self {
            time: format_time(r.at),
            description: EventKind::describe(&r.event),
            event: r.event.clone(),
            ok: r.outcome == "success",
            actor: r.actor.clone(),
            user: e
                .username
                .clone()
                .or_else(|| r.user_id.map(|u| u.to_string()))
                .unwrap_or_default(),
            client: r.client_id.clone().unwrap_or_default(),
            ip: r.ip.clone().unwrap_or_default(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    form: FilterInput,
    /// The refused field and why.
    refused: Option<(&'static str, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    rows: Vec<Row>,
    total: u64,
    first: u64,
    last: u64,
    previous: Option<String>,
    next: Option<String>,
    export_query: String,
}

impl AuditPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.refused
            .as_ref()
            .filter(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    /// What was typed in `field`, to show it again.
    fn value(&self, field: &str) -> &str {
        let f = &self.form;
        let v = match field {
            "user" => &f.user,
            "client_id" => &f.client_id,
            "event" => &f.event,
            "outcome" => &f.outcome,
            "from" => &f.from,
            "to" => &f.to,
            _ => &None,
        };
        v.as_deref().unwrap_or("")
    }

    fn selected(&self, field: &str, option: &str) -> bool {
        self.value(field).trim() == option
    }
}

/// A field's message as the console says it: the field's label first.
fn label(field: &str) -> &'static str {
    match field {
        "user" => "User",
        "client_id" => "Client",
        "event" => "Event",
        "outcome" => "Outcome",
        "from" => "From",
        "to" => "To",
        _ => "This field",
    }
}

async fn audit_page(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    form: Result<Query<AuditForm>, QueryRejection>,
) -> Result<Response, PageError> {
    let admin = match guard::admin(&state, &session, &uri).await? {
        Ok(admin) => admin,
        Err(response) => return Ok(response),
    };
    let Query(form) = form.map_err(|_| {
        PageError::bad_request(
            "Unreadable filter",
            "The filter in the address could not be read.",
        )
    })?;
    let offset: u64 = match form.offset.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| {
                PageError::bad_request(
                    "Unreadable page",
                    "The page in the address is not a number.",
                )
            })?,
    };
    let kinds = ALL_KINDS
        .iter()
        .map(|k| (k.as_str(), EventKind::describe(k.as_str())))
        .collect();
    let mut page = AuditPage {
        chrome: Chrome::new(&session, &admin, "audit").await?,
        form: form.filter.clone(),
        refused: None,
        kinds,
        rows: Vec::new(),
        total: 0,
        first: 0,
        last: 0,
        previous: None,
        next: None,
        export_query: form.filter.to_query_string(),
    };
    let query = match form.filter.resolve(&state.accounts).await {
        Ok(q) => q,
        Err(FilterError::Field { field, message }) => {
            page.refused = Some((field, format!("{} {message}.", label(field))));
            return Ok(render(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        Err(FilterError::Storage(e)) => return Err(e.into()),
    };
    let (events, total) = state
        .audit
        .search(&query, PAGE_SIZE, i64::try_from(offset).unwrap_or(i64::MAX))
        .await?;
    let base = page.export_query.clone();
    let link = |offset: u64| {
        let sep = if base.is_empty() { "" } else { "&" };
        format!("/admin/audit?{base}{sep}offset={offset}")
    };
    let size = PAGE_SIZE as u64;
    let shown = events.len() as u64;
    page.total = total;
    page.first = if shown == 0 { 0 } else { offset + 1 };
    page.last = offset + shown;
    page.previous = (offset > 0).then(|| link(offset.saturating_sub(size)));
    page.next = (offset + shown < total && shown > 0).then(|| link(offset + shown));
    page.rows = events.iter().map(Row::from).collect();
    Ok(render(StatusCode::OK, &page))
}

async fn export(
    State(state): State<AppState>,
    session: Session,
    uri: Uri,
    form: Result<Query<AuditForm>, QueryRejection>,
) -> Result<Response, PageError> {
    if let Err(response) = guard::admin(&state, &session, &uri).await? {
        return Ok(response);
    }
    let Query(form) = form.map_err(|_| {
        PageError::bad_request(
            "Unreadable filter",
            "The filter in the address could not be read.",
        )
    })?;
    let format = match form.format.as_deref().map(str::trim) {
        None | Some("") => Format::JsonLines,
        Some(name) => Format::parse(name).ok_or_else(|| {
            PageError::bad_request("Unknown format", "An export is jsonl or csv.")
        })?,
    };
    let query = match form.filter.resolve(&state.accounts).await {
        Ok(q) => q,
        Err(FilterError::Field { field, message }) => {
            return Err(PageError::bad_request(
                "Filter refused",
                format!(
                    "{} {message}. Change the filter on the audit page.",
                    label(field)
                ),
            ));
        }
        Err(FilterError::Storage(e)) => return Err(e.into()),
    };
    let export = state.audit.export(&query, format).await?;
    Ok(export.into_response(format, state.clock.now()))
}
