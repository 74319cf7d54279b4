//! One `SEMVER`/`ECOSYSTEM` range against one version. A range's events
//! are parsed once, on first use ([`Prepared`], kept in the candidate), so
//! a candidate shared by many SBOMs is not parsed again for each package;
//! evaluating a version is then comparisons only.

use std::cmp::Ordering;

use super::candidate::{CandidateRange, RangeEvent};
use super::text::Text;
use crate::version::{Scheme, Version};

fn parse(scheme: Scheme, s: &str) -> Result<Version, String> {
    scheme.parse(s).map_err(|e| e.to_string())
}

fn cmp(a: &Version, b: &Version) -> Ordering {
    a.cmp_same(b).unwrap_or(Ordering::Equal)
}

/// A range's events parsed under one scheme.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    scheme: Scheme,
    /// `limit` events in record order.
    limits: Vec<Limit>,
    /// The other events, or the first one that does not parse.
    bounds: Result<Bounds, String>,
}

#[derive(Clone, Debug)]
enum Limit {
    /// `"*"`: no limit.
    Any,
    Below(Version),
    /// Reported only when the evaluation reaches it, as before parsing
    /// was done ahead.
    Unparsed(String),
}

#[derive(Clone, Debug)]
struct Bounds {
    /// Introduced/fixed/last_affected events, parsed (`None` for
    /// `introduced: "0"`): in record order when `pairs` is set, else
    /// sorted for the specification's walk.
    events: Vec<(RangeEvent, Option<Version>)>,
    /// (introduced, closing) indices into `events` when the record is
    /// written as ordered pairs.
    pairs: Option<Vec<(usize, Option<usize>)>>,
}

impl Prepared {
    fn new(scheme: Scheme, range: &CandidateRange) -> Prepared {
        let limits = range
            .events
            .iter()
            .filter_map(|e| match e {
                RangeEvent::Limit(l) if l.as_str() == "*" => Some(Limit::Any),
                RangeEvent::Limit(l) => Some(match parse(scheme, l) {
                    Ok(v) => Limit::Below(v),
                    Err(e) => Limit::Unparsed(e),
                }),
                _ => None,
            })
            .collect();
        Prepared {
            scheme,
            limits,
            bounds: Bounds::new(scheme, range),
        }
    }

    /// Whether `v` lies below some `limit` (or there are none).
    fn below_limits(&self, v: &Version) -> Result<bool, String> {
        if self.limits.is_empty() {
            return Ok(true);
        }
        for l in &self.limits {
            match l {
                Limit::Any => return Ok(true),
                Limit::Below(l) if cmp(v, l).is_lt() => return Ok(true),
                Limit::Below(_) => {}
                Limit::Unparsed(e) => return Err(e.clone()),
            }
        }
        Ok(false)
    }
}

impl Bounds {
    fn new(scheme: Scheme, range: &CandidateRange) -> Result<Bounds, String> {
        let mut events = Vec::with_capacity(range.events.len());
        for e in &range.events {
            match e {
                RangeEvent::Limit(_) => {}
                RangeEvent::Introduced(x) if x.as_str() == "0" => events.push((e.clone(), None)),
                _ => events.push((e.clone(), Some(parse(scheme, e.value())?))),
            }
        }
        let pairs = record_order_pairs(&events);
        if pairs.is_none() {
            sort_for_walk(&mut events);
        }
        Ok(Bounds { events, pairs })
    }
}

/// The interval of a range a version lies in.
pub(crate) struct RangeHit {
    pub introduced: Text,
    /// The `fixed`/`last_affected` event closing the interval, if any.
    pub closing: Option<RangeEvent>,
}

/// Whether `v` is in `range` under `scheme`, and in which interval. Limits
/// first: a version at or above every `limit` is not in the range. Then
/// the intervals: when the record lists its events as
/// `introduced[, fixed|last_affected]` pairs with each pair in order, the
/// range is the union of those intervals (so adjacent or out-of-order
/// pairs, as some PyPA records have, and empty `[x, x)` pairs, as some
/// RustSec records have, mean what their authors meant); otherwise the
/// events are sorted and walked as the OSV specification's algorithm does.
pub(crate) fn evaluate_range(
    scheme: Scheme,
    v: &Version,
    range: &CandidateRange,
) -> Result<Option<RangeHit>, String> {
    let fresh;
    let mut prepared = range.prepared.get_or_init(|| Prepared::new(scheme, range));
    if prepared.scheme != scheme {
        fresh = Prepared::new(scheme, range);
        prepared = &fresh;
    }
    if !prepared.below_limits(v)? {
        return Ok(None);
    }
    let bounds = prepared.bounds.as_ref().map_err(Clone::clone)?;
    let events = &bounds.events;
    let hit = match &bounds.pairs {
        Some(pairs) => pairs
            .iter()
            .find(|(intro, close)| inside(v, &events[*intro], close.map(|c| &events[c])))
            .copied(),
        None => sorted_walk(v, events),
    };
    Ok(hit.map(|(intro, close)| RangeHit {
        introduced: events[intro].0.value().clone(),
        closing: close.map(|c| events[c].0.clone()),
    }))
}

fn at_or_above(v: &Version, bound: &Option<Version>) -> bool {
    bound.as_ref().is_none_or(|b| cmp(v, b).is_ge())
}

/// Whether `v` lies in `[intro, close)` (or `[intro, last_affected]`).
fn inside(
    v: &Version,
    intro: &(RangeEvent, Option<Version>),
    close: Option<&(RangeEvent, Option<Version>)>,
) -> bool {
    if !at_or_above(v, &intro.1) {
        return false;
    }
    match close {
        None => true,
        Some((RangeEvent::LastAffected(_), Some(b))) => cmp(v, b).is_le(),
        Some((_, b)) => !at_or_above(v, b),
    }
}

/// The events as (introduced, closing) index pairs in record order, when
/// the record is written that way and each pair is ordered.
fn record_order_pairs(
    events: &[(RangeEvent, Option<Version>)],
) -> Option<Vec<(usize, Option<usize>)>> {
    let mut pairs: Vec<(usize, Option<usize>)> = Vec::new();
    for (i, (e, ver)) in events.iter().enumerate() {
        match e {
            RangeEvent::Introduced(_) => {
                // An open interval followed by another start is not pairs.
                if pairs.last().is_some_and(|p| p.1.is_none()) {
                    return None;
                }
                pairs.push((i, None));
            }
            _ => {
                let last = pairs.last_mut()?;
                if last.1.is_some() {
                    return None;
                }
                if let (Some(start), Some(end)) = (&events[last.0].1, ver)
                    && cmp(start, end).is_gt()
                {
                    return None;
                }
                last.1 = Some(i);
            }
        }
    }
    Some(pairs)
}

/// The specification's order: by version (`0` first), introduced before
/// a closing event of the same version.
fn sort_for_walk(events: &mut [(RangeEvent, Option<Version>)]) {
    let rank = |e: &RangeEvent| usize::from(!matches!(e, RangeEvent::Introduced(_)));
    events.sort_by(|(ea, a), (eb, b)| {
        let by_version = match (a, b) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => cmp(a, b),
        };
        by_version.then(rank(ea).cmp(&rank(eb)))
    });
}

/// The specification's walk over sorted events: the introduced event that
/// turned "affected" on, with the first closing event above the version.
fn sorted_walk(
    v: &Version,
    events: &[(RangeEvent, Option<Version>)],
) -> Option<(usize, Option<usize>)> {
    let mut introduced = None;
    for (i, (event, bound)) in events.iter().enumerate() {
        match event {
            RangeEvent::Introduced(_) if at_or_above(v, bound) => introduced = Some(i),
            RangeEvent::Fixed(_) if at_or_above(v, bound) => introduced = None,
            RangeEvent::LastAffected(_) if bound.as_ref().is_some_and(|b| cmp(v, b).is_gt()) => {
                introduced = None;
            }
            _ => {}
        }
    }
    let intro = introduced?;
    let close = events
        .iter()
        .enumerate()
        .skip(intro + 1)
        .find_map(|(i, (e, b))| {
            matches!(e, RangeEvent::Fixed(_) | RangeEvent::LastAffected(_))
                .then_some(i)
                .filter(|_| b.as_ref().is_some_and(|b| cmp(v, b).is_le()))
        });
    Some((intro, close))
}
