//! The admin API's users routes: find people, add, change and delete them, set their
//! roles, and the account actions (disable, enable, unlock, sign out everywhere, the
//! reset mail, removing a second factor). Each calls `accounts::admin::people`, the
//! same functions as the console and the CLI.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::{
    auth::AdminCaller,
    extract::{ApiJson, ApiQuery},
    page::{PageInfo, PageQuery},
    problem::Problem,
};
use crate::{
    AppState,
    accounts::admin::people::{
        Factor, NewPerson, PeopleError, PersonChanges, PersonDetail, RoleSet,
    },
    audit::Origin,
    crypto::Secret,
    storage::StoredUser,
};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(put_roles))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(unlock_user))
        .routes(routes!(sign_out_user))
        .routes(routes!(password_reset_user))
        .routes(routes!(remove_second_factor))
        .routes(routes!(role_holders))
}

impl From<PeopleError> for Problem {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::Invalid { field, message } => Problem::invalid_field(field, message),
            PeopleError::Taken(field) => {
                let mut p = Problem::conflict(format!("the {field} is already taken"));
                p.errors.push(super::problem::FieldError {
                    field: field.to_owned(),
                    message: format!("the {field} is already taken by another account"),
                });
                p
            }
            PeopleError::Protected(why) => Problem::conflict(why),
            PeopleError::NotFound => Problem::not_found("there is no such user"),
            PeopleError::Deleted => {
                Problem::conflict("the account is deleted; it cannot be changed")
            }
            PeopleError::Busy => Problem::unavailable(),
            PeopleError::Storage(e) => e.into(),
            e @ (PeopleError::Password(_) | PeopleError::Mail(_)) => {
                tracing::error!(error = %e, "an admin's change to a user failed");
                Problem::unavailable()
            }
        }
    }
}

/// A path's user id; anything else names no one.
fn user_id(raw: &str) -> Result<Uuid, Problem> {
    Uuid::parse_str(raw).map_err(|_| Problem::not_found("there is no such user"))
}

/// One person as the API shows them (never their password hash).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// Roles everywhere.
    pub roles: Vec<String>,
    pub disabled: bool,
    pub self_registered: bool,
    /// Set on a deleted account's tombstone (Unix seconds).
    pub deleted_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<StoredUser> for UserView {
    fn from(u: StoredUser) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            email_verified: u.email_verified,
            display_name: u.display_name,
            given_name: u.given_name,
            family_name: u.family_name,
            roles: u.roles,
            disabled: u.disabled,
            self_registered: u.self_registered,
            deleted_at: u.deleted_at,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserList {
    pub items: Vec<UserView>,
    pub page: PageInfo,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct UserSearch {
    /// Part of a username, email address or name, any case (at most 200 characters).
    pub q: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Finds people by username, email address or name.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(UserSearch),
    responses(
        (status = 200, description = "A page of people, by username", body = UserList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 422, description = "A refused query field", body = Problem),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    _caller: AdminCaller,
    ApiQuery(query): ApiQuery<UserSearch>,
) -> Result<Json<UserList>, Problem> {
    let (limit, offset) = PageQuery {
        limit: query.limit,
        offset: query.offset,
    }
    .checked()?;
    let (users, total) = state
        .accounts
        .search_people(query.q.as_deref().unwrap_or_default(), limit, offset)
        .await?;
    let page = PageInfo::new(total, limit, offset, users.len());
    Ok(Json(UserList {
        items: users.into_iter().map(Into::into).collect(),
        page,
    }))
}

/// A new account. Without `password`, the person is mailed the reset link to choose
/// their own (an invitation).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUser {
    pub username: String,
    pub email: String,
    pub password: Option<String>,
    pub display_name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

fn origin(headers: &HeaderMap) -> Origin {
    Origin {
        ip: None,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect()),
    }
}

/// Adds an account under the same rules as `portcullis user add`.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The account", body = UserView),
        (status = 400, description = "An unreadable body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 409, description = "The username or email is taken", body = Problem),
        (status = 422, description = "A refused field", body = Problem),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<Response, Problem> {
    let new = NewPerson {
        username: body.username,
        email: body.email,
        password: body.password.map(Secret::new),
        display_name: body.display_name,
        roles: body.roles,
    };
    let user = state
        .accounts
        .create_person(&caller.actor(), new, &origin(&headers))
        .await?;
    let location = format!("{}/users/{}", super::PREFIX, user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(UserView::from(user)),
    )
        .into_response())
}

/// A role held in one client.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ClientRoleView {
    pub client_id: String,
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SessionView {
    pub sid: String,
    pub device: String,
    pub ip: Option<String>,
    pub signed_in_at: i64,
    pub last_seen_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct PasskeyView {
    pub id: Uuid,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct FactorsView {
    pub totp: bool,
    pub recovery_codes_left: u32,
    pub passkeys: Vec<PasskeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct AppView {
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub allowed_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventView {
    pub what: String,
    pub at: i64,
    pub succeeded: bool,
}

/// One person with everything about them.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct UserDetailView {
    #[serde(flatten)]
    pub user: UserView,
    pub client_roles: Vec<ClientRoleView>,
    pub locked_until: Option<i64>,
    pub sessions: Vec<SessionView>,
    pub second_factors: FactorsView,
    pub apps: Vec<AppView>,
    pub recent_events: Vec<EventView>,
}

impl From<PersonDetail> for UserDetailView {
    fn from(d: PersonDetail) -> Self {
        Self {
            client_roles: d
                .roles
                .into_iter()
                .filter_map(|g| {
                    g.client_id.map(|client_id| ClientRoleView {
                        client_id,
                        role: g.role,
                    })
                })
                .collect(),
            locked_until: d.locked_until,
            sessions: d
                .sessions
                .into_iter()
                .map(|s| SessionView {
                    sid: s.sid,
                    device: s.device,
                    ip: s.ip,
                    signed_in_at: s.signed_in_at,
                    last_seen_at: s.last_seen_at,
                })
                .collect(),
            second_factors: FactorsView {
                totp: d.factors.totp,
                recovery_codes_left: d.factors.recovery_codes_left,
                passkeys: d
                    .passkeys
                    .into_iter()
                    .map(|p| PasskeyView {
                        id: p.id,
                        name: p.name,
                        created_at: p.created_at,
                        last_used_at: p.last_used_at,
                    })
                    .collect(),
            },
            apps: d
                .apps
                .into_iter()
                .map(|a| AppView {
                    client_id: a.client_id,
                    name: a.name,
                    scope: a.scopes.to_string(),
                    allowed_at: a.allowed_at,
                })
                .collect(),
            recent_events: d
                .activity
                .into_iter()
                .map(|a| EventView {
                    what: a.what.to_owned(),
                    at: a.at,
                    succeeded: a.succeeded,
                })
                .collect(),
            user: d.user.into(),
        }
    }
}

/// One person: profile, roles everywhere and per client, sessions, second factors,
/// connected apps and recent security events.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id (their `sub`)")),
    responses(
        (status = 200, description = "The person", body = UserDetailView),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    _caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<UserDetailView>, Problem> {
    let detail = state.accounts.person_detail(user_id(&id)?).await?;
    Ok(Json(detail.into()))
}

/// What to change; fields left out stay, an empty name clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateUser {
    pub username: Option<String>,
    pub email: Option<String>,
    /// A changed address is unconfirmed unless this says it is.
    pub email_verified: Option<bool>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

/// Changes someone's username, email address or names.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The person as changed", body = UserView),
        (status = 400, description = "An unreadable body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The username or email is taken", body = Problem),
        (status = 422, description = "A refused field", body = Problem),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<UserView>, Problem> {
    let changes = PersonChanges {
        username: body.username,
        email: body.email,
        email_verified: body.email_verified,
        display_name: body.display_name,
        given_name: body.given_name,
        family_name: body.family_name,
    };
    let user = state
        .accounts
        .update_person(&caller.actor(), user_id(&id)?, changes)
        .await?;
    Ok(Json(user.into()))
}

/// Deletes someone's account (a tombstone keeps the username and `sub` from reuse).
#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The last admin, yourself, or already deleted", body = Problem),
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    state
        .accounts
        .delete_person(&caller.actor(), user_id(&id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Someone's roles: everywhere, and in each client.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RolesBody {
    pub roles: Vec<String>,
    /// client_id -> roles in that client only; a client left out keeps none.
    #[serde(default)]
    pub client_roles: BTreeMap<String, Vec<String>>,
}

/// Replaces someone's roles, everywhere and per client.
#[utoipa::path(
    put,
    path = "/users/{id}/roles",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = RolesBody,
    responses(
        (status = 200, description = "The roles as now held", body = RolesBody),
        (status = 400, description = "An unreadable body", body = Problem),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The last admin, or your own admin role", body = Problem),
        (status = 422, description = "A refused role or client", body = Problem),
    )
)]
async fn put_roles(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RolesBody>,
) -> Result<Json<RolesBody>, Problem> {
    let set = RoleSet {
        everywhere: body.roles,
        per_client: body.client_roles,
    };
    let grants = state
        .accounts
        .set_roles(&caller.actor(), user_id(&id)?, set)
        .await?;
    let mut out = RolesBody {
        roles: Vec::new(),
        client_roles: BTreeMap::new(),
    };
    for g in grants {
        match g.client_id {
            Some(c) => out.client_roles.entry(c).or_default().push(g.role),
            None => out.roles.push(g.role),
        }
    }
    Ok(Json(out))
}

/// What an account action did.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ActionDone {
    /// False when there was nothing to do (already disabled, not locked).
    pub changed: bool,
    /// Browser sessions ended, where the action ends them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_ended: Option<u64>,
}

/// Disables someone's account: every session ends and every token is revoked, at once.
#[utoipa::path(
    post,
    path = "/users/{id}/disable",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done", body = ActionDone),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The last admin, yourself, or deleted", body = Problem),
    )
)]
async fn disable_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ActionDone>, Problem> {
    let done = state
        .accounts
        .set_disabled_by_id(&caller.actor(), user_id(&id)?, true)
        .await?;
    Ok(Json(ActionDone {
        changed: done.changed,
        sessions_ended: Some(done.sessions_ended),
    }))
}

/// Enables a disabled account again.
#[utoipa::path(
    post,
    path = "/users/{id}/enable",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done", body = ActionDone),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The account is deleted", body = Problem),
    )
)]
async fn enable_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ActionDone>, Problem> {
    let done = state
        .accounts
        .set_disabled_by_id(&caller.actor(), user_id(&id)?, false)
        .await?;
    Ok(Json(ActionDone {
        changed: done.changed,
        sessions_ended: None,
    }))
}

/// Lifts a lockout after too many wrong attempts.
#[utoipa::path(
    post,
    path = "/users/{id}/unlock",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done", body = ActionDone),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The account is deleted", body = Problem),
    )
)]
async fn unlock_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ActionDone>, Problem> {
    let changed = state
        .accounts
        .unlock_as(&caller.actor(), user_id(&id)?)
        .await?;
    Ok(Json(ActionDone {
        changed,
        sessions_ended: None,
    }))
}

/// Signs someone out everywhere: every session ends and every token is revoked.
#[utoipa::path(
    post,
    path = "/users/{id}/sign-out",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Done", body = ActionDone),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The account is deleted", body = Problem),
    )
)]
async fn sign_out_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<ActionDone>, Problem> {
    let ended = state
        .accounts
        .sign_out_everywhere(&caller.actor(), user_id(&id)?)
        .await?;
    Ok(Json(ActionDone {
        changed: true,
        sessions_ended: Some(ended),
    }))
}

/// Sends the reset flow's own mail (same link, lifetime and pacing as "forgot password").
#[utoipa::path(
    post,
    path = "/users/{id}/password-reset",
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 202, description = "The mail is queued (unless paced)", body = ActionDone),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user", body = Problem),
        (status = 409, description = "The account is disabled or deleted", body = Problem),
    )
)]
async fn password_reset_user(
    State(state): State<AppState>,
    caller: AdminCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ActionDone>), Problem> {
    state
        .accounts
        .send_reset_as(&caller.actor(), user_id(&id)?, &origin(&headers))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ActionDone {
            changed: true,
            sessions_ended: None,
        }),
    ))
}

/// Removes a second factor: `totp`, `recovery-codes`, or a passkey's id.
#[utoipa::path(
    delete,
    path = "/users/{id}/second-factors/{factor}",
    tag = "users",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("factor" = String, Path, description = "`totp`, `recovery-codes` or a passkey's id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 404, description = "No such user, or they have no such factor", body = Problem),
        (status = 409, description = "The account is deleted", body = Problem),
    )
)]
async fn remove_second_factor(
    State(state): State<AppState>,
    caller: AdminCaller,
    Path((id, factor)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    let id = user_id(&id)?;
    let Some(factor) = Factor::parse(&factor) else {
        return Err(Problem::not_found(
            "a second factor is `totp`, `recovery-codes` or a passkey's id",
        ));
    };
    if state
        .accounts
        .remove_factor_as(&caller.actor(), id, factor)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found("the user has no such second factor"))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HoldersQuery {
    /// Only those holding the role in this client (default: everywhere).
    pub client_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HolderView {
    pub id: Uuid,
    pub username: String,
    pub disabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HolderList {
    pub items: Vec<HolderView>,
}

/// Who holds a role, everywhere or in one client (`?client_id=`): one query.
#[utoipa::path(
    get,
    path = "/roles/{role}/users",
    tag = "users",
    params(("role" = String, Path, description = "The role's name"), HoldersQuery),
    responses(
        (status = 200, description = "The holders, by username", body = HolderList),
        (status = 401, description = "No valid token", body = Problem),
        (status = 403, description = "The token may not administer", body = Problem),
        (status = 422, description = "Not a role name", body = Problem),
    )
)]
async fn role_holders(
    State(state): State<AppState>,
    _caller: AdminCaller,
    Path(role): Path<String>,
    ApiQuery(query): ApiQuery<HoldersQuery>,
) -> Result<Json<HolderList>, Problem> {
    let holders = state
        .accounts
        .role_holders(&role, query.client_id.as_deref())
        .await?;
    Ok(Json(HolderList {
        items: holders
            .into_iter()
            .map(|h| HolderView {
                id: h.user_id,
                username: h.username,
                disabled: h.disabled,
            })
            .collect(),
    }))
}
