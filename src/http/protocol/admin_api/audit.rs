//! The admin API's audit routes: the event log, filtered and paginated, and its export.

use axum::{extract::State, response::Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    auth::AdminCaller,
    extract::ApiQuery,
    page::{PageInfo, PageQuery},
    problem::Problem,
};
use crate::{
    AppState,
    audit::{
        EventKind,
        export::Format,
        filter::{FilterError, FilterInput, format_time},
    },
    storage::AuditListed,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(export_events))
}

/// Which events: every filter narrows; none given, every event.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    /// A username or a user id: the events about that person.
    pub user: Option<String>,
    pub client_id: Option<String>,
    /// An event type, such as `sign_in`.
    pub event: Option<String>,
    /// `success` or `failure`.
    pub outcome: Option<String>,
    /// From this time, included: RFC 3339 (`2026-12-02T13:00:00Z`) or Unix seconds.
    pub from: Option<String>,
    /// Up to this time, included; as `from`.
    pub to: Option<String>,
    /// How many items, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// How many to skip from the start (default 0).
    pub offset: Option<u64>,
    /// Export only: `jsonl` (default) or `csv`.
    pub format: Option<String>,
}

impl AuditParams {
    fn filter(&self) -> FilterInput {
        FilterInput {
            user: self.user.clone(),
            client_id: self.client_id.clone(),
            event: self.event.clone(),
            outcome: self.outcome.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
}

impl From<FilterError> for Problem {
    fn from(e: FilterError) -> Self {
        match e {
            FilterError::Field { field, message } => {
                Problem::invalid_field(field, format!("{field} {message}"))
            }
            FilterError::Storage(e) => e.into(),
        }
    }
}

/// One security event.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventView {
    pub id: String,
    /// Unix seconds.
    pub at: i64,
    /// The same instant, RFC 3339 in UTC.
    pub time: String,
    /// The event type, such as `sign_in`.
    pub event: String,
    /// The event in plain words.
    pub description: &'static str,
    /// `success` or `failure`.
    pub outcome: String,
    /// `user:<id>`, `client:<id>`, `cli`, `system` or `anonymous`.
    pub actor: String,
    pub user_id: Option<String>,
    /// The username of the person it is about, while the account exists.
    pub username: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Small facts about the event (a reason, a kid); never a secret.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditListed> for EventView {
    fn from(e: AuditListed) -> Self {
        let r = e.record;
        Self {
            id: r.id.to_string(),
            at: r.at,
            time: format_time(r.at),
            description: EventKind::describe(&r.event),
            event: r.event,
            outcome: r.outcome,
            actor: r.actor,
            user_id: r.user_id.map(|u| u.to_string()),
            username: e.username,
            client_id: r.client_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventList {
    pub items: Vec<EventView>,
    pub page: PageInfo,
}

/// The audit log, newest first, filtered and paginated.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "The events that match", body = EventList),
        (status = 400, description = "The query could not be read", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 422, description = "A filter is refused; the problem names it", body = Problem),
    )
)]
async fn list_events(
    State(state): State<AppState>,
    _caller: AdminCaller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<axum::Json<EventList>, Problem> {
    if params.format.is_some() {
        return Err(Problem::invalid_field(
            "format",
            "format is for /audit/export only",
        ));
    }
    let (limit, offset) = PageQuery {
        limit: params.limit,
        offset: params.offset,
    }
    .checked()?;
    let query = params.filter().resolve(&state.accounts).await?;
    let (events, total) = state
        .audit
        .search(
            &query,
            i64::from(limit),
            i64::try_from(offset).unwrap_or(i64::MAX),
        )
        .await?;
    let page = PageInfo::new(total, limit, offset, events.len());
    Ok(axum::Json(EventList {
        items: events.into_iter().map(Into::into).collect(),
        page,
    }))
}

/// The events a filter matches as a file: the newest 10,000 at most (the
/// `Portcullis-Export-Truncated: true` header says when there were more).
#[utoipa::path(
    get,
    path = "/audit/export",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "JSON Lines (`application/jsonl`) or CSV (`text/csv`), as an attachment", body = String),
        (status = 400, description = "The query could not be read", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 422, description = "A filter or the format is refused; the problem names it", body = Problem),
    )
)]
async fn export_events(
    State(state): State<AppState>,
    _caller: AdminCaller,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, Problem> {
    if params.limit.is_some() || params.offset.is_some() {
        let field = if params.limit.is_some() {
            "limit"
        } else {
            "offset"
        };
        return Err(Problem::invalid_field(
            field,
            "an export is not paginated: narrow it with from and to",
        ));
    }
    let format = match params.format.as_deref().map(str::trim) {
        None | Some("") => Format::JsonLines,
        Some(name) => Format::parse(name)
            .ok_or_else(|| Problem::invalid_field("format", "format must be jsonl or csv"))?,
    };
    let query = params.filter().resolve(&state.accounts).await?;
    let export = state.audit.export(&query, format).await?;
    Ok(export.into_response(format, state.clock.now()))
}
