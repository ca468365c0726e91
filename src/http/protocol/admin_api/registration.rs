//! The admin API's registration routes: the initial access tokens that let an app
//! register itself at `/oauth/register` when `registration.mode` is `initial_token`.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    auth::AdminCaller,
    extract::{ApiJson, ApiQuery},
    page::{PageInfo, PageQuery},
    problem::Problem,
};
use crate::{
    AppState,
    oidc::dynamic::{self, TokenError, TokenRequest},
    storage::StoredInitialToken,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// One initial access token (never the token itself after it was made). Times are
/// Unix seconds.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TokenView {
    pub id: String,
    pub label: String,
    /// Who made it: `user:<uuid>`, `client:<client_id>` or `cli`.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Absent: any number of registrations until it expires.
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<i64>,
    /// `active`, `expired`, `used_up` or `revoked`.
    pub state: &'static str,
}

impl TokenView {
    fn new(t: StoredInitialToken, now: i64) -> Self {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at <= now {
            "expired"
        } else if t.max_uses.is_some_and(|m| t.uses >= m) {
            "used_up"
        } else {
            "active"
        };
        Self {
            id: t.id,
            label: t.label,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            max_uses: t.max_uses,
            uses: t.uses,
            revoked_at: t.revoked_at,
            state,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TokenList {
    pub items: Vec<TokenView>,
    pub page: PageInfo,
}

/// A new token: its record and, this once, the token to give the app's developer.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The bearer token for `POST /oauth/register`; shown only in this answer.
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateToken {
    /// How long it works, in seconds (default one day, at most 366 days).
    pub expires_in: Option<u64>,
    /// How many registrations it allows (default: any number until it expires).
    pub max_uses: Option<i64>,
    /// What it is for, for whoever reads the list later.
    #[serde(default)]
    pub label: String,
}

/// The initial access tokens, the newest first.
#[utoipa::path(
    get,
    path = "/registration/tokens",
    tag = "registration",
    params(PageQuery),
    responses(
        (status = 200, description = "The tokens", body = TokenList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 422, description = "A bad limit or offset", body = Problem),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    _caller: AdminCaller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<TokenList>, Problem> {
    let (limit, offset) = page.checked()?;
    let offset_i = i64::try_from(offset).unwrap_or(i64::MAX);
    let tokens = state
        .store
        .registrations
        .list_tokens(i64::from(limit), offset_i)
        .await?;
    let total = u64::try_from(state.store.registrations.count_tokens().await?).unwrap_or(0);
    let now = state.clock.now();
    let returned = tokens.len();
    Ok(Json(TokenList {
        items: tokens.into_iter().map(|t| TokenView::new(t, now)).collect(),
        page: PageInfo::new(total, limit, offset, returned),
    }))
}

/// Makes an initial access token; the answer holds the token, shown only this once.
#[utoipa::path(
    post,
    path = "/registration/tokens",
    tag = "registration",
    request_body = CreateToken,
    responses(
        (status = 201, description = "Made", body = CreatedToken),
        (status = 400, description = "The body is not readable", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 422, description = "A field is refused", body = Problem),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    caller: AdminCaller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<Response, Problem> {
    let now = state.clock.now();
    let req = TokenRequest {
        expires_in: Duration::from_secs(body.expires_in.unwrap_or(24 * 3600)),
        max_uses: body.max_uses,
        label: body.label,
    };
    let made = dynamic::create_token(&state.store, &state.audit, caller.actor(), req, now)
        .await
        .map_err(|e| match e {
            TokenError::Field(f) => Problem::invalid_field(f.field, f.message),
            TokenError::Storage(s) => s.into(),
        })?;
    let created = CreatedToken {
        view: TokenView::new(made.token, now),
        token: made.secret,
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// Revokes an initial access token: it registers nothing more. Clients it registered
/// stay.
#[utoipa::path(
    delete,
    path = "/registration/tokens/{id}",
    tag = "registration",
    params(("id" = String, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked (or already revoked)"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such token", body = Problem),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let now = state.clock.now();
    match dynamic::revoke_token(&state.store, &state.audit, caller.actor(), &id, now).await? {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(Problem::not_found(
            "there is no initial access token with that id",
        )),
    }
}
