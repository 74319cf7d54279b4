//! The same storage scenario on SQLite and on a real PostgreSQL started
//! here: migrations, directory, agent reports (idempotent resend), alerts
//! with silences, profile promotion producing an update, policies,
//! compliance facts, stale nodes.

mod support;

use std::sync::Arc;

use anyhow::{Context, Result};
use bulwark_control::compliance::ContainerFacts;
use bulwark_control::rbac::{
    Binding, Principal, Scope, Subject, SubjectMatcher, Target, authorize, authorize_list,
    resources, verbs,
};
use bulwark_control::routing::SilenceMatcher;
use bulwark_control::wire::{AgentInfo, ContainerReport, ProfileDoc, Report, UpdateKind};
use bulwark_core::{Mode, Severity, WorkloadId};
use bulwark_server::app::{App, Settings};
use bulwark_server::db::DbSpec;
use bulwark_server::store::{AlertQuery, ModeRequest};
use support::pg::PgCluster;

const NODE: &str = "spiffe://test.example/bulwark/node/n1";

fn admin() -> Principal {
    Principal {
        subject: Subject::User("root".into()),
        bindings: vec![Binding {
            subject: SubjectMatcher::User("root".into()),
            role: "admin".into(),
            scope: Scope::Cluster,
        }],
    }
}

fn agent() -> Principal {
    Principal {
        subject: Subject::Spiffe(NODE.into()),
        bindings: vec![Binding {
            subject: SubjectMatcher::Spiffe("spiffe://test.example/bulwark/node/*".into()),
            role: "agent".into(),
            scope: Scope::Cluster,
        }],
    }
}

fn profile_yaml(workload: &str) -> Result<String> {
    let p = bulwark_profile::WorkloadProfile::new(
        WorkloadId::new(workload)?,
        time::OffsetDateTime::now_utc(),
    );
    Ok(bulwark_profile::to_yaml(&p)?)
}

fn container_facts() -> Result<ContainerFacts> {
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
                    "capabilities": {"bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]}},
        "root": {"path": "rootfs", "readonly": false},
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    });
    Ok(ContainerFacts::from_config_json(&config.to_string())?)
}

async fn scenario(spec: DbSpec) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::new(&dir.path().join("server"));
    settings.db = spec;
    let app: Arc<App> = App::open(settings).await?;
    let store = &app.store;
    let workload = "k8s:shop/web";

    // An agent report: alerts, a container with facts, a learned profile.
    let report = Report {
        seq: 1,
        boot: "b0071".into(),
        agent: AgentInfo {
            hostname: "n1".into(),
            version: "test".into(),
        },
        alerts: (0..3)
            .map(|i| {
                support::alert(
                    &format!("deviation:{workload}:{i}"),
                    Severity::High,
                    workload,
                )
            })
            .collect::<Result<_>>()?,
        containers: vec![ContainerReport {
            id: "c1".into(),
            workload: workload.into(),
            image: Some("shop/web:1".into()),
            image_digest: None,
            running: true,
            facts: Some(container_facts()?),
        }],
        profiles: vec![ProfileDoc {
            workload: workload.into(),
            yaml: profile_yaml(workload)?,
        }],
        ..Report::default()
    };
    let permit = authorize::<verbs::Create, resources::AgentStream>(&agent(), &Target::Cluster)?;
    let screened = store.screen(NODE, report.clone()).await?;
    assert!(screened.rejected().is_empty(), "{:?}", screened.rejected());
    let first = store
        .ingest(
            &permit,
            &screened,
            app.audit
                .gate(bulwark_audit::Entry::new(NODE, "agent.report")),
        )
        .await?;
    assert!(first.stored);
    assert_eq!(first.alerts.len(), 3);
    // The same report again (a resend after a lost acknowledgement).
    let again = store
        .ingest(
            &permit,
            &screened,
            app.audit
                .gate(bulwark_audit::Entry::new(NODE, "agent.report")),
        )
        .await?;
    assert!(!again.stored, "a resend must not be stored twice");

    let list = authorize_list::<resources::Alerts>(&admin())?;
    let alerts = store.list_alerts(&list, &AlertQuery::default()).await?;
    assert_eq!(alerts.len(), 3);
    assert!(
        alerts.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );
    assert_eq!(alerts[0].namespace, "shop");
    // Paging.
    let older = store
        .list_alerts(
            &list,
            &AlertQuery {
                before: Some(alerts[0].seq),
                limit: Some(1),
                ..AlertQuery::default()
            },
        )
        .await?;
    assert_eq!(older.len(), 1);
    assert_eq!(older[0].seq, alerts[1].seq);
    // A namespace-scoped viewer sees only its namespace.
    let dev = Principal {
        subject: Subject::User("dev".into()),
        bindings: vec![Binding {
            subject: SubjectMatcher::User("dev".into()),
            role: "namespace-developer".into(),
            scope: Scope::Namespace("other".into()),
        }],
    };
    let dev_list = authorize_list::<resources::Alerts>(&dev)?;
    assert!(
        store
            .list_alerts(&dev_list, &AlertQuery::default())
            .await?
            .is_empty()
    );

    // A silence holds back later alerts of that workload.
    let create =
        authorize::<verbs::Create, resources::Silences>(&admin(), &Target::namespace("shop"))?;
    let matcher = SilenceMatcher {
        workload: Some(workload.into()),
        ..SilenceMatcher::default()
    };
    let (silence, _) = store
        .create_silence(
            &create,
            &matcher,
            "deploy",
            bulwark_server::now_ms() + 60_000,
            "root",
            Box::new(|| Ok(())),
        )
        .await?;
    let second = Report {
        seq: 2,
        alerts: vec![support::alert("deviation:9", Severity::High, workload)?],
        containers: vec![],
        profiles: vec![],
        ..report.clone()
    };
    let second = store.screen(NODE, second).await?;
    let out = store.ingest(&permit, &second, Box::new(|| Ok(()))).await?;
    assert_eq!(
        out.alerts[0].silenced_by.as_deref(),
        Some(silence.id.as_str())
    );

    // Promotion writes the profile and an update for every node.
    let before = store.latest_update().await?;
    let update =
        authorize::<verbs::Update, resources::Profiles>(&admin(), &Target::workload(workload))?;
    let req = ModeRequest {
        classes: vec![],
        to: Mode::Monitor,
        reason: "quiet".into(),
    };
    let (view, _) = store
        .set_mode(&update, workload, &req, "root", Box::new(|| Ok(())))
        .await?;
    assert_eq!(view.modes.process, "monitor");
    assert!(view.version > 1);
    let updates = store.updates_since(before, 10).await?;
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].kind, UpdateKind::WorkloadProfile);
    assert!(
        updates[0]
            .document
            .as_deref()
            .unwrap_or("")
            .contains("monitor")
    );
    // The same promotion again is a conflict, not a silent no-op.
    assert!(
        store
            .set_mode(&update, workload, &req, "root", Box::new(|| Ok(())))
            .await
            .is_err()
    );

    // A refused commit gate (the audit log failing) leaves nothing behind.
    let create2 =
        authorize::<verbs::Create, resources::Silences>(&admin(), &Target::namespace("shop"))?;
    let refused = store
        .create_silence(
            &create2,
            &SilenceMatcher {
                namespace: Some("shop".into()),
                ..SilenceMatcher::default()
            },
            "x",
            bulwark_server::now_ms() + 60_000,
            "root",
            Box::new(|| Err::<(), _>("disk full".to_owned())),
        )
        .await;
    assert!(refused.is_err());
    let silences = store
        .list_silences(&authorize_list::<resources::Silences>(&admin())?, false)
        .await?;
    assert_eq!(silences.len(), 1, "the refused silence must not be stored");

    // Compliance facts reach the CIS checks.
    let comp = authorize_list::<resources::Compliance>(&admin())?;
    let report = bulwark_server::compliance::report(store, &comp).await?;
    let c = report.containers.first().context("the container")?;
    assert!(
        c.checks
            .iter()
            .any(|k| k.status == bulwark_control::compliance::Status::Fail)
    );
    assert!(!report.nist.is_empty());

    // Stale node flagging.
    let flagged = store
        .flag_stale(NODE, bulwark_server::now_ms() + 1, Box::new(|| Ok(())))
        .await?;
    assert!(flagged.is_some());
    let nodes = store
        .list_nodes(&authorize_list::<resources::Nodes>(&admin())?)
        .await?;
    assert!(nodes[0].stale);
    // Opening again runs no migration twice.
    drop(app);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_scenario_on_sqlite() -> Result<()> {
    let dir = tempfile::tempdir()?;
    scenario(DbSpec::Sqlite(dir.path().join("control.db"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_scenario_on_postgresql() -> Result<()> {
    let pg = PgCluster::start()?;
    scenario(DbSpec::Postgres(pg.url.clone())).await?;
    // Migrations are idempotent: a second open of the same database works.
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::new(&dir.path().join("server"));
    settings.db = DbSpec::Postgres(pg.url.clone());
    App::open(settings).await?;
    Ok(())
}
