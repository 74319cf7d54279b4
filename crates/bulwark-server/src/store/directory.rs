//! Users, tokens (API tokens and dashboard sessions, stored as SHA-256)
//! and role bindings.

use bulwark_control::rbac::{
    Binding, Permit, Principal, Scope, Subject, SubjectMatcher, resources, verbs,
};

use super::{Store, StoreError};
use crate::auth::secret;
use crate::db::{Gate, Row, Stmt, Value};
use crate::model::{BindingView, NewToken, SubjectView, TokenView, UserView};

/// What a presented token resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRecord {
    pub token_id: String,
    pub owner: String,
    pub kind: String,
    /// The dashboard session's CSRF token.
    pub csrf: Option<String>,
}

/// The directory part of the store.
#[derive(Clone, Debug)]
pub struct Directory<'s>(&'s Store);

impl Store {
    pub fn directory(&self) -> Directory<'_> {
        Directory(self)
    }
}

fn valid_name(what: &str, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{what} {:?}: 1 to 64 letters, digits, '-', '_', '.', '@'",
            name.escape_debug().to_string()
        )))
    }
}

fn id() -> Result<String, StoreError> {
    secret::new_id().map_err(|e| StoreError::Invalid(e.to_string()))
}

fn binding_of(row: &Row) -> Result<(String, Binding, String, i64), StoreError> {
    let kind = row.text(1)?;
    let name = row.text(2)?;
    let subject = match kind.as_str() {
        "user" => SubjectMatcher::User(name),
        "spiffe" => SubjectMatcher::Spiffe(name),
        other => return Err(StoreError::corrupt("role binding subject kind", other)),
    };
    let scope: Scope = row
        .text(4)?
        .parse()
        .map_err(|e| StoreError::corrupt("role binding scope", e))?;
    Ok((
        row.text(0)?,
        Binding {
            subject,
            role: row.text(3)?,
            scope,
        },
        row.text(5)?,
        row.int(6)?,
    ))
}

const BINDING_COLS: &str = "id, subject_kind, subject, role, scope, created_by, created_at";

fn binding_view(id: String, b: Binding, created_by: String, created_at: i64) -> BindingView {
    let (kind, name) = match b.subject {
        SubjectMatcher::User(n) => ("user", n),
        SubjectMatcher::Spiffe(n) => ("spiffe", n),
    };
    BindingView {
        id,
        subject: SubjectView {
            kind: kind.into(),
            name,
        },
        role: b.role,
        scope: b.scope.to_string(),
        created_by,
        created_at,
    }
}

impl Directory<'_> {
    /// Every binding (the table is small; RBAC picks the subject's).
    pub async fn principal(&self, subject: Subject) -> Result<Principal, StoreError> {
        let rows = self
            .0
            .db
            .query(&format!("SELECT {BINDING_COLS} FROM role_bindings"), vec![])
            .await?;
        let mut bindings = Vec::with_capacity(rows.len());
        for row in &rows {
            let (_, b, _, _) = binding_of(row)?;
            if b.subject.matches(&subject) {
                bindings.push(b);
            }
        }
        Ok(Principal { subject, bindings })
    }

    /// The live, unexpired token with this hash, and an enabled owner.
    pub async fn token(&self, hash: &str, now: i64) -> Result<Option<AuthRecord>, StoreError> {
        let row = self
            .0
            .db
            .query_one(
                "SELECT t.id, t.owner, t.kind, t.csrf FROM tokens t JOIN users u ON u.name = t.owner \
                 WHERE t.hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2) AND u.disabled = 0",
                vec![hash.into(), now.into()],
            )
            .await?;
        row.map(|r| {
            Ok(AuthRecord {
                token_id: r.text(0)?,
                owner: r.text(1)?,
                kind: r.text(2)?,
                csrf: r.opt_text(3)?,
            })
        })
        .transpose()
    }

    /// The password hash of an enabled `user` account.
    pub async fn password_hash(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .0
            .db
            .query_one(
                "SELECT password_hash FROM users WHERE name = $1 AND kind = 'user' AND disabled = 0",
                vec![name.into()],
            )
            .await?;
        Ok(row.map(|r| r.opt_text(0)).transpose()?.flatten())
    }

    pub async fn user_count(&self) -> Result<i64, StoreError> {
        let row = self
            .0
            .db
            .query_one("SELECT COUNT(*) FROM users", vec![])
            .await?;
        Ok(row.map(|r| r.int(0)).transpose()?.unwrap_or(0))
    }

    pub async fn list_users(
        &self,
        _permit: &Permit<verbs::List, resources::Users>,
    ) -> Result<Vec<UserView>, StoreError> {
        let rows = self
            .0
            .db
            .query(
                "SELECT name, kind, created_at, disabled FROM users ORDER BY name",
                vec![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UserView {
                    name: r.text(0)?,
                    kind: r.text(1)?,
                    created_at: r.int(2)?,
                    disabled: r.int(3)? != 0,
                })
            })
            .collect()
    }

    /// Creates an account; `password_hash` only for `user` accounts.
    pub async fn create_user<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Create, resources::Users>,
        name: &str,
        kind: &str,
        password_hash: Option<String>,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        self.insert_user(name, kind, password_hash, gate).await
    }

    /// The first administrator, created on first start (no permit: there is
    /// no one to hold one yet; the caller checks the directory is empty).
    pub async fn bootstrap_admin<T: Send + 'static>(
        &self,
        name: &str,
        password_hash: String,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let binding_id = id()?;
        let now = crate::now_ms();
        valid_name("user name", name)?;
        let stmts = vec![
            Stmt::new(
                "INSERT INTO users (name, kind, password_hash, created_at, disabled) VALUES ($1, 'user', $2, $3, 0)",
                vec![name.into(), password_hash.into(), now.into()],
            ),
            Stmt::new(
                "INSERT INTO role_bindings (id, subject_kind, subject, role, scope, created_by, created_at) \
                 VALUES ($1, 'user', $2, 'admin', 'cluster', 'bootstrap', $3)",
                vec![binding_id.into(), name.into(), now.into()],
            ),
        ];
        Ok(self.0.db.write(stmts, gate).await?.1)
    }

    async fn insert_user<T: Send + 'static>(
        &self,
        name: &str,
        kind: &str,
        password_hash: Option<String>,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        valid_name("user name", name)?;
        if kind != "user" && kind != "service" {
            return Err(StoreError::Invalid(format!(
                "kind {kind:?}: expected user or service"
            )));
        }
        let exists = self
            .0
            .db
            .query_one("SELECT 1 FROM users WHERE name = $1", vec![name.into()])
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!("user {name} already exists")));
        }
        let stmt = Stmt::new(
            "INSERT INTO users (name, kind, password_hash, created_at, disabled) VALUES ($1, $2, $3, $4, 0)",
            vec![
                name.into(),
                kind.into(),
                password_hash.into(),
                crate::now_ms().into(),
            ],
        );
        Ok(self.0.db.write(vec![stmt], gate).await?.1)
    }

    /// Deletes an account with its tokens and bindings.
    pub async fn delete_user<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Delete, resources::Users>,
        name: &str,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let stmts = vec![
            Stmt::new("DELETE FROM users WHERE name = $1", vec![name.into()]).expect_rows(1),
            Stmt::new("DELETE FROM tokens WHERE owner = $1", vec![name.into()]),
            Stmt::new(
                "DELETE FROM role_bindings WHERE subject_kind = 'user' AND subject = $1",
                vec![name.into()],
            ),
        ];
        match self.0.db.write(stmts, gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("user {name}")))
            }
            other => Ok(other?.1),
        }
    }

    /// Issues a token (or a session) for `owner`. `owner` is the caller
    /// itself, or anyone with a `create tokens` permit (checked by the caller
    /// of this function through [`TokenOwner`]).
    pub async fn create_token<T: Send + 'static>(
        &self,
        owner: TokenOwner<'_>,
        name: &str,
        kind: &str,
        ttl_ms: Option<i64>,
        csrf: Option<String>,
        gate: Gate<T>,
    ) -> Result<(NewToken, T), StoreError> {
        let owner = owner.name();
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err(StoreError::Invalid(
                "token name: 1 to 128 printable characters".into(),
            ));
        }
        let token = secret::new_token().map_err(|e| StoreError::Invalid(e.to_string()))?;
        let token_id = id()?;
        let now = crate::now_ms();
        let expires_at = ttl_ms.map(|t| now.saturating_add(t));
        let stmt = Stmt::new(
            "INSERT INTO tokens (id, owner, name, kind, hash, csrf, created_at, expires_at) \
             SELECT $1, name, $2, $3, $4, $5, $6, $7 FROM users WHERE name = $8 AND disabled = 0",
            vec![
                token_id.clone().into(),
                name.into(),
                kind.into(),
                secret::token_hash(&token).into(),
                csrf.into(),
                now.into(),
                Value::Int(expires_at),
                owner.into(),
            ],
        )
        .expect_rows(1);
        match self.0.db.write(vec![stmt], gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("user {owner}")))
            }
            Err(e) => Err(e.into()),
            Ok((_, v)) => Ok((
                NewToken {
                    id: token_id,
                    token,
                    expires_at,
                },
                v,
            )),
        }
    }

    /// Tokens of `owner`, or everyone's with a list permit.
    pub async fn list_tokens(&self, owner: Option<&str>) -> Result<Vec<TokenView>, StoreError> {
        let (cond, params) = match owner {
            Some(o) => ("WHERE owner = $1", vec![Value::from(o)]),
            None => ("", vec![]),
        };
        let rows = self
            .0
            .db
            .query(
                &format!(
                    "SELECT id, owner, name, kind, created_at, expires_at, last_used_at FROM tokens {cond} \
                     ORDER BY created_at DESC LIMIT 1000"
                ),
                params,
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenView {
                    id: r.text(0)?,
                    owner: r.text(1)?,
                    name: r.text(2)?,
                    kind: r.text(3)?,
                    created_at: r.int(4)?,
                    expires_at: r.opt_int(5)?,
                    last_used_at: r.opt_int(6)?,
                })
            })
            .collect()
    }

    /// Revokes a token; `owner` limits it to the caller's own.
    pub async fn delete_token<T: Send + 'static>(
        &self,
        token_id: &str,
        owner: Option<&str>,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let stmt = match owner {
            Some(o) => Stmt::new(
                "DELETE FROM tokens WHERE id = $1 AND owner = $2",
                vec![token_id.into(), o.into()],
            ),
            None => Stmt::new("DELETE FROM tokens WHERE id = $1", vec![token_id.into()]),
        };
        match self.0.db.write(vec![stmt.expect_rows(1)], gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("token {token_id}")))
            }
            other => Ok(other?.1),
        }
    }

    /// Notes when a token was last used (at most once a minute per token).
    pub async fn touch_token(&self, token_id: &str, now: i64) -> Result<(), StoreError> {
        self.0
            .db
            .write_plain(vec![Stmt::new(
                "UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
                vec![now.into(), token_id.into(), (now - 60_000).into()],
            )])
            .await?;
        Ok(())
    }

    /// Bindings the permit's scope reaches.
    pub async fn list_bindings(
        &self,
        permit: &Permit<verbs::List, resources::RoleBindings>,
    ) -> Result<Vec<BindingView>, StoreError> {
        let rows = self
            .0
            .db
            .query(
                &format!("SELECT {BINDING_COLS} FROM role_bindings ORDER BY created_at"),
                vec![],
            )
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let (id, b, by, at) = binding_of(row)?;
            let visible = match b.scope.as_target() {
                bulwark_control::rbac::Target::Cluster => permit.filter().cluster,
                bulwark_control::rbac::Target::Namespaced {
                    namespace,
                    workload,
                } => permit.filter().allows(&namespace, workload.as_deref()),
            };
            if visible {
                out.push(binding_view(id, b, by, at));
            }
        }
        Ok(out)
    }

    /// Creates a binding; the permit comes from `rbac::check_grant`, which
    /// refuses escalation.
    pub async fn create_binding<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Create, resources::RoleBindings>,
        binding: &Binding,
        created_by: &str,
        gate: Gate<T>,
    ) -> Result<(BindingView, T), StoreError> {
        let (kind, name) = match &binding.subject {
            SubjectMatcher::User(n) => ("user", n.as_str()),
            SubjectMatcher::Spiffe(n) => ("spiffe", n.as_str()),
        };
        let binding_id = id()?;
        let now = crate::now_ms();
        let stmt = Stmt::new(
            format!(
                "INSERT INTO role_bindings ({BINDING_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            vec![
                binding_id.clone().into(),
                kind.into(),
                name.into(),
                binding.role.clone().into(),
                binding.scope.to_string().into(),
                created_by.into(),
                now.into(),
            ],
        );
        let v = self.0.db.write(vec![stmt], gate).await?.1;
        Ok((
            binding_view(binding_id, binding.clone(), created_by.into(), now),
            v,
        ))
    }

    /// One binding, for authorising its deletion against its scope.
    pub async fn binding(&self, binding_id: &str) -> Result<Binding, StoreError> {
        let row = self
            .0
            .db
            .query_one(
                &format!("SELECT {BINDING_COLS} FROM role_bindings WHERE id = $1"),
                vec![binding_id.into()],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("role binding {binding_id}")))?;
        Ok(binding_of(&row)?.1)
    }

    pub async fn delete_binding<T: Send + 'static>(
        &self,
        _permit: &Permit<verbs::Delete, resources::RoleBindings>,
        binding_id: &str,
        gate: Gate<T>,
    ) -> Result<T, StoreError> {
        let stmt = Stmt::new(
            "DELETE FROM role_bindings WHERE id = $1",
            vec![binding_id.into()],
        )
        .expect_rows(1);
        match self.0.db.write(vec![stmt], gate).await {
            Err(crate::db::DbError::Conflict { .. }) => {
                Err(StoreError::NotFound(format!("role binding {binding_id}")))
            }
            other => Ok(other?.1),
        }
    }

    /// (role, scope) of every binding, for the compliance assessment.
    pub async fn binding_scopes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self
            .0
            .db
            .query("SELECT role, scope FROM role_bindings", vec![])
            .await?;
        rows.iter().map(|r| Ok((r.text(0)?, r.text(1)?))).collect()
    }

    /// Installs a binding at bootstrap (the node agents' default binding).
    pub async fn ensure_binding(
        &self,
        binding: &Binding,
        created_by: &str,
    ) -> Result<(), StoreError> {
        let (kind, name) = match &binding.subject {
            SubjectMatcher::User(n) => ("user", n.as_str()),
            SubjectMatcher::Spiffe(n) => ("spiffe", n.as_str()),
        };
        let exists = self
            .0
            .db
            .query_one(
                "SELECT 1 FROM role_bindings WHERE subject_kind = $1 AND subject = $2 AND role = $3 AND scope = $4",
                vec![kind.into(), name.into(), binding.role.clone().into(), binding.scope.to_string().into()],
            )
            .await?;
        if exists.is_none() {
            self.0
                .db
                .write_plain(vec![Stmt::new(
                    format!("INSERT INTO role_bindings ({BINDING_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
                    vec![
                        id()?.into(),
                        kind.into(),
                        name.into(),
                        binding.role.clone().into(),
                        binding.scope.to_string().into(),
                        created_by.into(),
                        crate::now_ms().into(),
                    ],
                )])
                .await?;
        }
        Ok(())
    }
}

/// Whose token is being created: the caller's own (proved by being
/// authenticated as that user), or anyone's under a `create tokens` permit.
#[derive(Debug)]
pub enum TokenOwner<'a> {
    Caller(&'a Principal),
    Other {
        permit: &'a Permit<verbs::Create, resources::Tokens>,
        name: &'a str,
    },
}

impl TokenOwner<'_> {
    fn name(&self) -> &str {
        match self {
            TokenOwner::Caller(p) => match &p.subject {
                Subject::User(n) => n,
                Subject::Spiffe(id) => id,
            },
            TokenOwner::Other { name, .. } => name,
        }
    }
}
