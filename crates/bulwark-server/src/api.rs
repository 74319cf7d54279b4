//! The HTTP API (`/api/v1/...`, `/metrics`, the agents' `/agent/v1/...`).
//!
//! Every route goes through [`Routes`], which records (method, path) so a
//! test can prove the served OpenAPI document ([`ApiDoc`], at
//! [`OPENAPI_PATH`]) lists exactly the routes there are. Every request
//! passes the call layer ([`call`]: request id, one audit record, error
//! bodies, metrics) and a body limit; every handler but login, health and
//! the OpenAPI document authenticates ([`caller`]) and authorises (RBAC,
//! default deny) before it touches the store.

pub mod alerts;
pub mod audit_log;
pub mod call;
pub mod caller;
pub mod directory;
pub mod error;
pub mod images;
pub mod policies;
pub mod reports;
pub mod session;
pub mod workloads;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{MethodFilter, on};
use bulwark_control::rbac::{Resource, Verb};
use utoipa::OpenApi;

use crate::app::App;

/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credentials: login, health, the OpenAPI document.
    Public,
    /// Any authenticated caller, about itself only (whoami, logout, its
    /// own tokens).
    Caller,
    /// RBAC: this verb on this resource (default deny).
    Rbac(Verb, Resource),
}

/// One route as declared.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
}

/// The router under construction, and the table of what it routes.
pub struct Routes {
    router: Router<Arc<App>>,
    table: Vec<RouteInfo>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }
}

impl Routes {
    fn add<H, T>(mut self, method: Method, path: &'static str, access: Access, handler: H) -> Routes
    where
        H: Handler<T, Arc<App>>,
        T: 'static,
    {
        let filter = match MethodFilter::try_from(method.clone()) {
            Ok(f) => f,
            Err(_) => return self,
        };
        self.router = self.router.route(path, on(filter, handler));
        self.table.push(RouteInfo {
            method,
            path,
            access,
        });
        self
    }

    pub fn get<H: Handler<T, Arc<App>>, T: 'static>(
        self,
        path: &'static str,
        a: Access,
        h: H,
    ) -> Routes {
        self.add(Method::GET, path, a, h)
    }

    pub fn post<H: Handler<T, Arc<App>>, T: 'static>(
        self,
        path: &'static str,
        a: Access,
        h: H,
    ) -> Routes {
        self.add(Method::POST, path, a, h)
    }

    pub fn put<H: Handler<T, Arc<App>>, T: 'static>(
        self,
        path: &'static str,
        a: Access,
        h: H,
    ) -> Routes {
        self.add(Method::PUT, path, a, h)
    }

    pub fn delete<H: Handler<T, Arc<App>>, T: 'static>(
        self,
        path: &'static str,
        a: Access,
        h: H,
    ) -> Routes {
        self.add(Method::DELETE, path, a, h)
    }

    /// Every route as declared.
    pub fn table(&self) -> &[RouteInfo] {
        &self.table
    }
}

/// Every route of the API.
pub fn routes() -> Routes {
    use self::{
        alerts as a, audit_log as l, directory as d, images as i, policies as p, reports as r,
        session as s, workloads as w,
    };
    use Resource as R;
    use Verb::{Create as C, Delete as D, Get as G, List as L, Update as U};
    let rbac = Access::Rbac;
    Routes::default()
        .get(OPENAPI_PATH, Access::Public, openapi_json)
        .get("/api/v1/health", Access::Public, health)
        .post("/api/v1/session", Access::Public, s::login)
        .delete("/api/v1/session", Access::Caller, s::logout)
        .get("/api/v1/whoami", Access::Caller, s::whoami)
        .get(
            "/api/v1/workloads",
            rbac(L, R::Workloads),
            w::list_workloads,
        )
        .get(
            "/api/v1/workloads/{id}",
            rbac(G, R::Workloads),
            w::get_workload,
        )
        .get("/api/v1/graph", rbac(L, R::Workloads), w::graph)
        .get("/api/v1/profiles", rbac(L, R::Profiles), w::list_profiles)
        .get(
            "/api/v1/profiles/{id}",
            rbac(G, R::Profiles),
            w::get_profile,
        )
        .post(
            "/api/v1/profiles/{id}/mode",
            rbac(U, R::Profiles),
            w::set_mode,
        )
        .get("/api/v1/nodes", rbac(L, R::Nodes), w::list_nodes)
        .get("/api/v1/alerts", rbac(L, R::Alerts), a::list_alerts)
        .get("/api/v1/alerts/{id}", rbac(G, R::Alerts), a::get_alert)
        .get("/api/v1/silences", rbac(L, R::Silences), a::list_silences)
        .post("/api/v1/silences", rbac(C, R::Silences), a::create_silence)
        .delete(
            "/api/v1/silences/{id}",
            rbac(D, R::Silences),
            a::expire_silence,
        )
        .get(
            "/api/v1/alert-routes",
            rbac(L, R::AlertRoutes),
            a::list_routes,
        )
        .put(
            "/api/v1/alert-routes/{name}",
            rbac(U, R::AlertRoutes),
            a::put_route,
        )
        .delete(
            "/api/v1/alert-routes/{name}",
            rbac(D, R::AlertRoutes),
            a::delete_route,
        )
        .get("/api/v1/images", rbac(L, R::Images), i::list_images)
        .post("/api/v1/images", rbac(C, R::Images), i::put_scan)
        .get("/api/v1/images/{digest}", rbac(G, R::Images), i::get_image)
        .get(
            "/api/v1/images/{digest}/findings",
            rbac(L, R::Findings),
            i::image_findings,
        )
        .get("/api/v1/findings", rbac(L, R::Findings), i::list_findings)
        .get("/api/v1/policies", rbac(L, R::Policies), p::list_policies)
        .get(
            "/api/v1/policies/{kind}/{name}",
            rbac(G, R::Policies),
            p::get_policy,
        )
        .put(
            "/api/v1/policies/{kind}/{name}",
            rbac(U, R::Policies),
            p::put_policy,
        )
        .delete(
            "/api/v1/policies/{kind}/{name}",
            rbac(D, R::Policies),
            p::delete_policy,
        )
        .get(
            "/api/v1/identities",
            rbac(L, R::Identities),
            p::list_identities,
        )
        .get(
            "/api/v1/identities/{name}",
            rbac(G, R::Identities),
            p::get_identity,
        )
        .put(
            "/api/v1/identities/{name}",
            rbac(U, R::Identities),
            p::put_identity,
        )
        .delete(
            "/api/v1/identities/{name}",
            rbac(D, R::Identities),
            p::delete_identity,
        )
        .get("/api/v1/users", rbac(L, R::Users), d::list_users)
        .post("/api/v1/users", rbac(C, R::Users), d::create_user)
        .delete("/api/v1/users/{name}", rbac(D, R::Users), d::delete_user)
        .get("/api/v1/tokens", Access::Caller, d::list_tokens)
        .post("/api/v1/tokens", Access::Caller, d::create_token)
        .delete("/api/v1/tokens/{id}", Access::Caller, d::delete_token)
        .get(
            "/api/v1/role-bindings",
            rbac(L, R::RoleBindings),
            d::list_bindings,
        )
        .post(
            "/api/v1/role-bindings",
            rbac(C, R::RoleBindings),
            d::create_binding,
        )
        .delete(
            "/api/v1/role-bindings/{id}",
            rbac(D, R::RoleBindings),
            d::delete_binding,
        )
        .get("/api/v1/roles", rbac(L, R::RoleBindings), d::list_roles)
        .get("/api/v1/audit", rbac(L, R::Audit), l::list_audit)
        .get("/api/v1/compliance", rbac(L, R::Compliance), r::compliance)
        .get("/metrics", rbac(G, R::Metrics), r::metrics)
        .post(
            crate::agent_link::REPORT_PATH,
            rbac(C, R::AgentStream),
            crate::agent_link::report,
        )
        .get(
            crate::agent_link::UPDATES_PATH,
            rbac(G, R::AgentStream),
            crate::agent_link::updates,
        )
}

/// The router with its layers: route matching noted, body limit, the call
/// layer outermost (so even unknown routes are recorded).
///
/// The dashboard's static files (`/ui/`, `bulwark-dashboard`) are merged
/// outside the call layer: fetching a script is not an API call, and every
/// datum the pages show comes through the API. `/` redirects there.
pub fn router(app: Arc<App>) -> Router {
    let routes = routes();
    let api = routes
        .router
        .fallback(not_found)
        .route_layer(axum::middleware::from_fn(call::matched))
        .layer(DefaultBodyLimit::max(app.settings.body_limit))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            call::layer,
        ))
        .with_state(app);
    api.merge(bulwark_dashboard::router()).route(
        "/",
        axum::routing::get(|| async { axum::response::Redirect::to("/ui/") }),
    )
}

async fn not_found() -> error::ApiError {
    error::ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route",
    )
}

/// Health: the server answers (no credentials, nothing revealed).
#[utoipa::path(get, path = "/api/v1/health", tag = "meta",
    responses((status = 200, description = "the server is up")))]
pub async fn health() -> &'static str {
    "ok\n"
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this document")))]
pub async fn openapi_json() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bulwark control plane",
        description = "Workloads, profiles and modes, alerts, findings, images, identities, policies, RBAC, audit and compliance. Authenticate with `Authorization: Bearer TOKEN`, the dashboard session cookie (+ `X-CSRF-Token` on changes), or an mTLS client certificate (SPIFFE ID)."
    ),
    paths(
        openapi_json,
        health,
        session::login,
        session::logout,
        session::whoami,
        workloads::list_workloads,
        workloads::get_workload,
        workloads::graph,
        workloads::list_profiles,
        workloads::get_profile,
        workloads::set_mode,
        workloads::list_nodes,
        alerts::list_alerts,
        alerts::get_alert,
        alerts::list_silences,
        alerts::create_silence,
        alerts::expire_silence,
        alerts::list_routes,
        alerts::put_route,
        alerts::delete_route,
        images::list_images,
        images::put_scan,
        images::get_image,
        images::image_findings,
        images::list_findings,
        policies::list_policies,
        policies::get_policy,
        policies::put_policy,
        policies::delete_policy,
        policies::list_identities,
        policies::get_identity,
        policies::put_identity,
        policies::delete_identity,
        directory::list_users,
        directory::create_user,
        directory::delete_user,
        directory::list_tokens,
        directory::create_token,
        directory::delete_token,
        directory::list_bindings,
        directory::create_binding,
        directory::delete_binding,
        directory::list_roles,
        audit_log::list_audit,
        reports::compliance,
        reports::metrics,
        crate::agent_link::report,
        crate::agent_link::updates,
    )
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// (method, path) of every operation in the OpenAPI document.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        let mut out = BTreeSet::new();
        if let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                for method in ["get", "put", "post", "delete", "patch"] {
                    if item.get(method).is_some() {
                        out.insert((method.to_ascii_uppercase(), path.clone()));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn openapi_document_lists_exactly_the_routes_served() {
        let served: BTreeSet<(String, String)> = routes()
            .table()
            .iter()
            .map(|r| (r.method.to_string(), r.path.to_owned()))
            .collect();
        let documented = documented();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let phantom: Vec<_> = documented.difference(&served).collect();
        assert!(
            undocumented.is_empty(),
            "served but not documented: {undocumented:?}"
        );
        assert!(phantom.is_empty(), "documented but not served: {phantom:?}");
        assert!(served.len() > 40, "{}", served.len());
    }

    #[test]
    fn only_login_health_and_the_document_are_public() {
        let public: BTreeSet<String> = routes()
            .table()
            .iter()
            .filter(|r| r.access == Access::Public)
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        let expected: BTreeSet<String> = [
            "POST /api/v1/session".to_owned(),
            "GET /api/v1/health".to_owned(),
            format!("GET {OPENAPI_PATH}"),
        ]
        .into();
        assert_eq!(public, expected);
    }
}
