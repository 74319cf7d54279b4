//! Users, API tokens, role bindings and the built-in roles.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bulwark_control::rbac::{
    self, Binding, ROLES, Scope, SubjectMatcher, Target, authorize, authorize_list, check_grant,
    resources, verbs,
};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::caller::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::auth::secret;
use crate::model::{BindingView, NewToken, RoleView, SubjectView, TokenView, UserView};
use crate::store::TokenOwner;

/// A binding as shown to its holder (no id or author).
pub fn binding_summary(b: &Binding) -> BindingView {
    let (kind, name) = match &b.subject {
        SubjectMatcher::User(n) => ("user", n.clone()),
        SubjectMatcher::Spiffe(n) => ("spiffe", n.clone()),
    };
    BindingView {
        id: String::new(),
        subject: SubjectView {
            kind: kind.into(),
            name,
        },
        role: b.role.clone(),
        scope: b.scope.to_string(),
        created_by: String::new(),
        created_at: 0,
    }
}

/// A new user or service account.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub name: String,
    /// `user` (dashboard login with a password) or `service` (tokens only).
    pub kind: String,
    /// For `user`: at least 12 characters. Omitted: one is generated and
    /// returned once.
    pub password: Option<String>,
}

/// The account created, with its password when one was generated.
#[derive(Clone, Debug, serde::Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserView,
    pub password: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/users", tag = "directory",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = crate::model::ErrorBody)))]
pub async fn list_users(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let permit = authorize_list::<resources::Users>(&caller.principal)?;
    Ok(Json(app.store.directory().list_users(&permit).await?))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "directory", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 403, body = crate::model::ErrorBody), (status = 409, body = crate::model::ErrorBody)))]
pub async fn create_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(req): Json<NewUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let permit = authorize::<verbs::Create, resources::Users>(&caller.principal, &Target::Cluster)?;
    caller
        .call
        .describe("user.create", &req.name, json!({"kind": req.kind}));
    let (hash, generated) = match (req.kind.as_str(), req.password) {
        ("user", Some(p)) if p.chars().count() < 12 => {
            return Err(ApiError::bad_request("password: at least 12 characters"));
        }
        ("user", Some(p)) => (Some(hash(p).await?), None),
        ("user", None) => {
            let p = secret::new_password().map_err(|e| ApiError::bad_request(e.to_string()))?;
            (Some(hash(p.clone()).await?), Some(p))
        }
        (_, Some(_)) => return Err(ApiError::bad_request("service accounts have no password")),
        (_, None) => (None, None),
    };
    app.store
        .directory()
        .create_user(&permit, &req.name, &req.kind, hash, caller.call.gate(&app))
        .await?;
    let user = UserView {
        name: req.name,
        kind: req.kind,
        created_at: crate::now_ms(),
        disabled: false,
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user,
            password: generated,
        }),
    ))
}

async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || secret::hash_password(&password))
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "directory",
    responses((status = 204), (status = 403, body = crate::model::ErrorBody), (status = 404, body = crate::model::ErrorBody)))]
pub async fn delete_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let permit = authorize::<verbs::Delete, resources::Users>(&caller.principal, &Target::Cluster)?;
    if caller.user() == Some(name.as_str()) {
        return Err(ApiError::bad_request("you cannot delete your own account"));
    }
    caller.call.describe("user.delete", &name, json!({}));
    app.store
        .directory()
        .delete_user(&permit, &name, caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A token request.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub name: String,
    /// Whose token; the caller's own when omitted (needs `create tokens`
    /// for anyone else).
    pub owner: Option<String>,
    /// Lifetime in seconds; no expiry when omitted.
    pub ttl_secs: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "directory",
    responses((status = 200, body = Vec<TokenView>)))]
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    // Everyone's with `list tokens`; otherwise a user sees its own.
    let owner = match authorize_list::<resources::Tokens>(&caller.principal) {
        Ok(_) => None,
        Err(denied) => Some(caller.user().ok_or(denied)?.to_owned()),
    };
    Ok(Json(
        app.store.directory().list_tokens(owner.as_deref()).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "directory", request_body = TokenRequest,
    responses((status = 201, body = NewToken), (status = 403, body = crate::model::ErrorBody)))]
pub async fn create_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(req): Json<TokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let ttl_ms = req
        .ttl_secs
        .map(|s| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX));
    let own = req
        .owner
        .as_deref()
        .is_none_or(|o| Some(o) == caller.user());
    let target = req
        .owner
        .clone()
        .or_else(|| caller.user().map(str::to_owned))
        .ok_or_else(|| {
            ApiError::bad_request("an mTLS identity has no account to own a token; name an owner")
        })?;
    caller.call.describe(
        "token.create",
        &target,
        json!({"name": req.name, "ttl_secs": req.ttl_secs}),
    );
    let permit;
    let owner = if own {
        TokenOwner::Caller(&caller.principal)
    } else {
        permit =
            authorize::<verbs::Create, resources::Tokens>(&caller.principal, &Target::Cluster)?;
        TokenOwner::Other {
            permit: &permit,
            name: &target,
        }
    };
    let (token, _) = app
        .store
        .directory()
        .create_token(
            owner,
            &req.name,
            "api",
            ttl_ms,
            None,
            caller.call.gate(&app),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "directory",
    responses((status = 204), (status = 404, body = crate::model::ErrorBody)))]
pub async fn delete_token(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let owner =
        match authorize::<verbs::Delete, resources::Tokens>(&caller.principal, &Target::Cluster) {
            Ok(_) => None,
            Err(denied) => Some(caller.user().ok_or(denied)?.to_owned()),
        };
    caller.call.describe("token.revoke", &id, json!({}));
    app.store
        .directory()
        .delete_token(&id, owner.as_deref(), caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new role binding.
#[derive(Clone, Debug, Deserialize, ToSchema)]
pub struct NewBinding {
    pub subject: SubjectView,
    pub role: String,
    /// `cluster`, `namespace:NS` or `workload:PATTERN`.
    pub scope: String,
}

#[utoipa::path(get, path = "/api/v1/role-bindings", tag = "directory",
    responses((status = 200, body = Vec<BindingView>)))]
pub async fn list_bindings(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Vec<BindingView>>, ApiError> {
    let permit = authorize_list::<resources::RoleBindings>(&caller.principal)?;
    Ok(Json(app.store.directory().list_bindings(&permit).await?))
}

#[utoipa::path(post, path = "/api/v1/role-bindings", tag = "directory", request_body = NewBinding,
    responses((status = 201, body = BindingView), (status = 403, body = crate::model::ErrorBody)))]
pub async fn create_binding(
    State(app): State<Arc<App>>,
    caller: Caller,
    Json(req): Json<NewBinding>,
) -> Result<(StatusCode, Json<BindingView>), ApiError> {
    let scope: Scope = req
        .scope
        .parse()
        .map_err(|e: rbac::ScopeError| ApiError::bad_request(e.to_string()))?;
    let subject = match req.subject.kind.as_str() {
        "user" => SubjectMatcher::User(req.subject.name.clone()),
        "spiffe" if req.subject.name.starts_with("spiffe://") => {
            SubjectMatcher::Spiffe(req.subject.name.clone())
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "subject kind {other:?} with name {:?}: expected user, or spiffe with a spiffe:// ID",
                req.subject.name
            )));
        }
    };
    caller.call.describe(
        "role-binding.create",
        &req.subject.name,
        json!({"role": req.role, "scope": scope.to_string(), "subject_kind": req.subject.kind}),
    );
    let permit = check_grant(&caller.principal, &req.role, &scope)?;
    let binding = Binding {
        subject,
        role: req.role,
        scope,
    };
    let (view, _) = app
        .store
        .directory()
        .create_binding(&permit, &binding, &caller.actor(), caller.call.gate(&app))
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(delete, path = "/api/v1/role-bindings/{id}", tag = "directory",
    responses((status = 204), (status = 403, body = crate::model::ErrorBody), (status = 404, body = crate::model::ErrorBody)))]
pub async fn delete_binding(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    rbac::holds_anywhere(
        &caller.principal,
        rbac::Verb::Delete,
        rbac::Resource::RoleBindings,
    )?;
    let binding = app.store.directory().binding(&id).await?;
    caller.call.describe(
        "role-binding.delete",
        &id,
        json!({"role": binding.role, "scope": binding.scope.to_string()}),
    );
    let permit = authorize::<verbs::Delete, resources::RoleBindings>(
        &caller.principal,
        &binding.scope.as_target(),
    )?;
    app.store
        .directory()
        .delete_binding(&permit, &id, caller.call.gate(&app))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "directory",
    responses((status = 200, body = Vec<RoleView>)))]
pub async fn list_roles(caller: Caller) -> Result<Json<Vec<RoleView>>, ApiError> {
    authorize_list::<resources::RoleBindings>(&caller.principal)?;
    Ok(Json(
        ROLES
            .iter()
            .map(|r| RoleView {
                name: r.name.into(),
                description: r.description.into(),
                permissions: r
                    .permissions()
                    .map(|(v, res)| format!("{v} {res}"))
                    .collect(),
            })
            .collect(),
    ))
}
