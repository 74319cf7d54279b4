//! The whole stack as a user runs it: `bulwark identity ca init`, `entry add`,
//! `identity serve`, and `bulwark proxy` processes that get their SVIDs from
//! the Workload API, each attested by the cgroup it was started in; then CA
//! rotation (`identity ca rotate prepare/activate/retire`) and SVID renewal
//! while a long-lived connection runs through the proxies. Needs root
//! (cgroups).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod mesh_support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bulwark_testkit::TestCgroup;
use mesh_support::*;

const WEB: &str = "spiffe://example.org/web";
const API: &str = "spiffe://example.org/api";

/// A trust domain with entries for web and api (by cgroup), the Workload API
/// serving them, an echo upstream behind api's inbound proxy, and web's
/// outbound proxy in front of it.
struct Stack {
    tmp: tempfile::TempDir,
    data: PathBuf,
    policy: PathBuf,
    api_log: PathBuf,
    api: Proc,
    web: Proc,
    _server: Proc,
    inbound: SocketAddr,
    outbound: SocketAddr,
    _cgroups: [TestCgroup; 2],
}

impl Stack {
    /// `entry_extra`: spec lines added to both entries (e.g. a short `ttl`).
    fn start(entry_extra: &str) -> Stack {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let web_cg = TestCgroup::create("cli-web").unwrap();
        let api_cg = TestCgroup::create("cli-api").unwrap();
        identity(&data, &["ca", "init", "--trust-domain", "example.org"]);
        for (name, id, cg) in [("web", WEB, &web_cg), ("api", API, &api_cg)] {
            let file = tmp.path().join(format!("{name}.yaml"));
            std::fs::write(&file, entry(name, id, cg.path(), entry_extra)).unwrap();
            identity(&data, &["entry", "add", file.to_str().unwrap()]);
        }
        let socket = tmp.path().join("workload.sock");
        let server = serve(&data, &socket);
        let endpoint = format!("unix://{}", socket.display());
        let policy = tmp.path().join("policy.yaml");
        std::fs::write(&policy, allow(WEB, API)).unwrap();
        let api_log = tmp.path().join("api-decisions.jsonl");
        let upstream = echo_upstream();
        let mut api = Proc::start(
            "api proxy",
            Some(&api_cg),
            &proxy_args(
                &endpoint,
                &["--inbound", &format!("127.0.0.1:0={upstream}")],
                &policy,
                &api_log,
            ),
        );
        let inbound = api.listening_addr();
        let mut web = Proc::start(
            "web proxy",
            Some(&web_cg),
            &proxy_args(
                &endpoint,
                &["--outbound", &format!("127.0.0.1:0={inbound}@{API}")],
                &policy,
                &tmp.path().join("web-decisions.jsonl"),
            ),
        );
        let outbound = web.listening_addr();
        Stack {
            tmp,
            data,
            policy,
            api_log,
            api,
            web,
            _server: server,
            inbound,
            outbound,
            _cgroups: [web_cg, api_cg],
        }
    }

    fn identity(&self, args: &[&str]) -> String {
        identity(&self.data, args)
    }

    /// The id of the CA authority in `state` (`Active`, `Old`, `Prepared`).
    fn authority(&self, state: &str) -> String {
        let show = self.identity(&["ca", "show"]);
        let line = show
            .lines()
            .find(|l| l.starts_with("authority ") && l.contains(&format!(" {state}:")))
            .unwrap_or_else(|| panic!("no {state} authority in:\n{show}"));
        line.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// Waits until both proxies logged an identity update for which `pred`
    /// holds (an SVID or bundle pushed over the Workload API and swapped in).
    fn wait_both_updated(&mut self, what: &str, pred: impl Fn(&str) -> bool) {
        for p in [&mut self.api, &mut self.web] {
            p.wait_line(what, |l| l.contains("proxy identity updated") && pred(l));
        }
    }
}

fn proxy_args(endpoint: &str, route: &[&str], policy: &Path, log: &Path) -> Vec<String> {
    let mut args: Vec<String> = ["--log", "bulwark_mesh=info", "proxy", "--workload-api"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(endpoint.to_owned());
    args.extend(route.iter().map(|s| s.to_string()));
    args.extend([
        "--policy".into(),
        policy.display().to_string(),
        "--decision-log".into(),
        log.display().to_string(),
    ]);
    args
}

#[test]
fn proxies_get_identities_from_the_workload_api_by_cgroup_and_authorise_by_them() {
    let stack = Stack::start("");
    let listed = stack.identity(&["entry", "list"]);
    assert!(listed.contains(WEB) && listed.contains(API), "{listed}");

    App::connect(stack.outbound)
        .roundtrip(b"ping over mTLS")
        .unwrap();

    let rec = decisions(&stack.api_log).into_iter().next().unwrap();
    assert_eq!(rec["decision"], "allow");
    assert_eq!(rec["peer_id"], WEB);
    assert_eq!(rec["local_id"], API);
    let leaf = &presented_chain(stack.inbound)[0];
    assert_eq!(leaf.uri_sans, [API]);
}

/// prepare -> activate -> retire with the real processes: the new root
/// reaches both proxies before anything is signed with it, both hot-swap to
/// SVIDs of the new authority, and traffic runs through the proxy pair the
/// whole time (a long-lived connection opened before the rotation and a new
/// handshake every round) without a single failure or refused handshake.
/// After retirement a peer that still holds an SVID of the old authority is
/// refused.
#[test]
fn ca_rotation_keeps_a_long_lived_connection_and_retirement_refuses_the_old_chain() {
    let mut stack = Stack::start("");
    let old_authority = stack.authority("Active");
    // A peer that keeps its SVID of the old authority (issued directly, as
    // for a workload that cannot use the Workload API).
    let old_peer = stack.tmp.path().join("old-peer");
    stack.identity(&[
        "issue",
        "--spiffe-id",
        WEB,
        "--out",
        old_peer.to_str().unwrap(),
    ]);
    assert!(
        presented_chain(stack.inbound)[1]
            .subject
            .contains(&old_authority)
    );
    let mut long_lived = App::connect(stack.outbound);
    long_lived.roundtrip(b"before rotation").unwrap();
    let traffic = Traffic::start(stack.outbound);
    traffic.wait_rounds(3);

    // 1. prepare: the new root is published to both proxies; nothing is
    //    signed by it yet.
    stack.identity(&["ca", "rotate", "prepare"]);
    let new_authority = stack.authority("Prepared");
    stack.wait_both_updated("the bundle with both roots", |l| {
        field(l, "x509_authorities").as_deref() == Some("2")
    });
    assert!(
        presented_chain(stack.inbound)[1]
            .subject
            .contains(&old_authority)
    );
    long_lived.roundtrip(b"after prepare").unwrap();
    traffic.wait_rounds(3);

    // The old peer now trusts both roots (it fetched the bundle again), but
    // its own SVID stays the one of the old authority.
    let both_roots = stack.identity(&["bundle", "--pem"]);
    std::fs::write(old_peer.join("bundle.pem"), both_roots).unwrap();
    let mut old = Proc::start(
        "old peer proxy",
        None,
        &[
            "proxy".into(),
            "--svid".into(),
            old_peer.join("svid.pem").display().to_string(),
            "--svid-key".into(),
            old_peer.join("svid.key").display().to_string(),
            "--bundle".into(),
            old_peer.join("bundle.pem").display().to_string(),
            "--outbound".into(),
            format!("127.0.0.1:0={}@{API}", stack.inbound),
            "--policy".into(),
            stack.policy.display().to_string(),
            "--decision-log".into(),
            stack
                .tmp
                .path()
                .join("old-decisions.jsonl")
                .display()
                .to_string(),
        ],
    );
    let old_outbound = old.listening_addr();

    // 2. activate: both proxies get SVIDs signed by the new authority.
    stack.identity(&["ca", "rotate", "activate"]);
    assert_eq!(stack.authority("Active"), new_authority);
    stack.wait_both_updated("an SVID of the new authority", |l| {
        field(l, "issuer").is_some_and(|i| i.contains(&new_authority))
    });
    wait_until("api to present the new chain", || {
        presented_chain(stack.inbound)[1]
            .subject
            .contains(&new_authority)
    });
    long_lived.roundtrip(b"after activate").unwrap();
    echo_once(stack.outbound, b"new connection, new SVIDs").unwrap();
    echo_once(old_outbound, b"old chain, still trusted").unwrap();
    traffic.wait_rounds(3);

    // 3. retire: the old root leaves every bundle.
    let retired = stack.identity(&["ca", "rotate", "retire"]);
    assert!(retired.contains(&old_authority), "{retired}");
    stack.wait_both_updated("the bundle without the old root", |l| {
        field(l, "x509_authorities").as_deref() == Some("1")
    });
    long_lived.roundtrip(b"after retire").unwrap();
    echo_once(stack.outbound, b"new connection after retire").unwrap();
    assert!(
        echo_once(old_outbound, b"old chain").is_err(),
        "a peer holding only the old chain got through after retirement"
    );
    wait_until("api to log the old chain's refusal", || {
        decisions(&stack.api_log).iter().any(|r| {
            r["decision"] == "deny"
                && r["reason"].as_str().is_some_and(|s| {
                    s.contains(&format!(
                        "{WEB} was not issued by a CA of trust domain example.org"
                    ))
                })
        })
    });
    long_lived.roundtrip(b"still alive").unwrap();
    traffic.wait_rounds(3);
    let (rounds, failures) = traffic.finish();
    assert!(
        failures.is_empty(),
        "{rounds} rounds, failed: {failures:#?}"
    );
    // Neither proxy refused anything of the pair: the only refusals are the
    // old chain's and the probes' (which present no client certificate).
    let web_denied: Vec<_> = decisions(&stack.tmp.path().join("web-decisions.jsonl"))
        .into_iter()
        .filter(|r| r["decision"] != "allow")
        .collect();
    assert!(web_denied.is_empty(), "{web_denied:#?}");
    let api_denied: Vec<_> = decisions(&stack.api_log)
        .into_iter()
        .filter(|r| {
            r["decision"] != "allow"
                && !r["reason"]
                    .as_str()
                    .is_some_and(|s| s.contains("no client certificate"))
        })
        .collect();
    assert_eq!(api_denied.len(), 1, "only the old chain: {api_denied:#?}");
    drop(old);
}

/// SVIDs that live 4 s are renewed by `identity serve` at half-life and
/// pushed over the Workload API; both proxies swap them in while running.
/// Once the first SVIDs have expired, new connections still succeed (each
/// side verifies the other's current certificate), and the connection
/// opened with the first SVIDs still carries traffic.
#[test]
fn svid_renewal_is_hot_swapped_by_running_proxies() {
    let mut stack = Stack::start("  ttl: 4s\n");
    let first = presented_chain(stack.inbound).remove(0);
    let mut long_lived = App::connect(stack.outbound);
    long_lived.roundtrip(b"first SVIDs").unwrap();

    stack.wait_both_updated("a renewed SVID", |l| l.contains("serial="));
    wait_until("the first SVID to expire", || {
        std::time::SystemTime::now() > first.not_after
    });
    let current = presented_chain(stack.inbound).remove(0);
    assert_ne!(current.serial_hex, first.serial_hex);
    assert!(current.not_after > std::time::SystemTime::now());
    echo_once(stack.outbound, b"after the first SVIDs expired").unwrap();
    long_lived
        .roundtrip(b"long-lived, first SVIDs expired")
        .unwrap();
}

/// Both running proxies re-read their AccessPolicy file: removing the
/// policy closes the path for new connections (the caller's proxy refuses
/// before dialling), a broken edit is refused with a log line and changes
/// nothing, and restoring the policy opens the path again.
#[test]
fn policy_file_changes_apply_to_running_proxies_and_broken_edits_are_refused() {
    let mut stack = Stack::start("");
    echo_once(stack.outbound, b"allowed").unwrap();

    std::fs::write(&stack.policy, allow(WEB, "spiffe://example.org/db")).unwrap();
    // Each proxy picks the change up on its own; wait for the caller's.
    let web_log = stack.tmp.path().join("web-decisions.jsonl");
    wait_until("web's proxy to refuse the call to api", || {
        let _ = echo_once(stack.outbound, b"probe");
        decisions(&web_log).iter().any(|r| {
            r["decision"] == "deny"
                && r["reason"]
                    .as_str()
                    .is_some_and(|s| s.contains("default deny") && s.contains("not dialled"))
        })
    });

    std::fs::write(&stack.policy, "kind: [").unwrap();
    for p in [&mut stack.api, &mut stack.web] {
        p.wait_line("the broken edit refused", |l| {
            l.contains("were refused") && l.contains("policy.yaml")
        });
    }
    assert!(echo_once(stack.outbound, b"still denied").is_err());

    std::fs::write(&stack.policy, allow(WEB, API)).unwrap();
    wait_until("the path to open again", || {
        echo_once(stack.outbound, b"allowed again").is_ok()
    });
}
