use std::time::{Duration, SystemTime};

use bulwark_core::{Alert, AlertReason, Decision, ManualClock, Mode, Severity, WorkloadId};
use proptest::prelude::*;

use super::*;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ))
}

fn alert(id: &str, workload: &str) -> Alert {
    Alert {
        id: id.into(),
        time: time::OffsetDateTime::UNIX_EPOCH,
        severity: Severity::High,
        workload: WorkloadId::new(workload).ok(),
        container_id: None,
        image_digest: None,
        profile_version: Some(1),
        mode: Mode::Monitor,
        reason: AlertReason::Deviation {
            class: "process".into(),
            detail: id.into(),
        },
        decision: Decision::Alert,
        message: format!("alert {id}"),
        ancestry: Vec::new(),
        count: 1,
        throttled: 0,
    }
}

fn config() -> ThrottleConfig {
    ThrottleConfig {
        dedup_window: Duration::from_secs(60),
        rate_per_sec: 1.0,
        burst: 3,
        max_tracked: 1000,
    }
}

#[test]
fn repeats_fold_into_one_alert_with_a_count() {
    let clock = clock();
    let mut t = Throttle::new(config(), clock.clone());
    assert!(t.offer(alert("a", "w1")).is_some());
    for _ in 0..9 {
        assert!(t.offer(alert("a", "w1")).is_none());
    }
    assert!(t.tick().is_empty());
    clock.advance(Duration::from_secs(61));
    let due = t.tick();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].id.as_str(), due[0].count), ("a", 9));
}

#[test]
fn over_rate_alerts_are_counted_and_reported_on_the_next_one() {
    let clock = clock();
    let mut t = Throttle::new(config(), clock.clone());
    let emitted: Vec<Alert> = (0..10)
        .filter_map(|i| t.offer(alert(&format!("a{i}"), "w1")))
        .collect();
    assert_eq!(emitted.len(), 3);
    // Another workload has its own bucket.
    assert!(t.offer(alert("b", "w2")).is_some());
    clock.advance(Duration::from_secs(1));
    let next = t.offer(alert("a10", "w1"));
    assert_eq!(next.map(|a| a.throttled), Some(7));
}

#[test]
fn a_quiet_workload_gets_a_throttle_report() {
    let clock = clock();
    let mut t = Throttle::new(config(), clock.clone());
    for i in 0..5 {
        let _ = t.offer(alert(&format!("a{i}"), "w1"));
    }
    assert!(t.tick().is_empty(), "no room in the bucket yet");
    clock.advance(Duration::from_secs(2));
    let reports = t.tick();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].throttled, 2);
    assert!(
        matches!(&reports[0].reason, AlertReason::Health { detail } if detail == "throttled 2 alerts")
    );
    assert!(
        reports[0].message.contains("alert a4"),
        "{}",
        reports[0].message
    );
}

#[test]
fn expired_window_without_a_tick_carries_the_count() {
    let clock = clock();
    let mut t = Throttle::new(config(), clock.clone());
    let _ = t.offer(alert("a", "w1"));
    let _ = t.offer(alert("a", "w1"));
    clock.advance(Duration::from_secs(61));
    assert_eq!(t.offer(alert("a", "w1")).map(|a| a.count), Some(2));
}

proptest! {
    /// Every offered occurrence is accounted for: in an emitted alert's
    /// count, or in a throttled count.
    #[test]
    fn nothing_is_dropped_without_a_count(ops in prop::collection::vec((0u8..4, 0u8..3, 0u64..3000), 1..200)) {
        let clock = clock();
        let mut t = Throttle::new(config(), clock.clone());
        let mut accounted = 0u64;
        let add = |a: &Alert, acc: &mut u64| *acc += a.count + a.throttled;
        for (id, w, ms) in &ops {
            clock.advance(Duration::from_millis(*ms));
            if let Some(a) = t.offer(alert(&format!("a{id}"), &format!("w{w}"))) {
                add(&a, &mut accounted);
            }
            for a in t.tick() {
                add(&a, &mut accounted);
            }
        }
        for _ in 0..10 {
            clock.advance(Duration::from_secs(120));
            for a in t.tick() {
                add(&a, &mut accounted);
            }
        }
        prop_assert_eq!(accounted, ops.len() as u64);
    }
}
