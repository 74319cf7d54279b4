//! Bounded, expiring caches of verdicts and tag resolutions.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bulwark_core::Clock;

/// A map whose entries expire after `ttl` and whose size is bounded
/// (oldest insertions are evicted first).
pub(crate) struct TtlCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    ttl: Duration,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

struct Inner<K, V> {
    map: HashMap<K, (SystemTime, V)>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize, clock: Arc<dyn Clock>) -> Self {
        TtlCache {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            ttl,
            capacity: capacity.max(1),
            clock,
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.map.get(key) {
            Some((expires, v)) if *expires > now => Some(v.clone()),
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&self, key: K, value: V) {
        let expires = self.clock.now() + self.ttl;
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.map.insert(key.clone(), (expires, value)).is_none() {
            inner.order.push_back(key);
        }
        while inner.map.len() > self.capacity {
            let Some(oldest) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&oldest);
        }
        if inner.order.len() > self.capacity * 2 {
            let Inner { map, order } = &mut *inner;
            order.retain(|k| map.contains_key(k));
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulwark_core::ManualClock;

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH));
        let cache = TtlCache::new(Duration::from_secs(10), 2, clock.clone());
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("c", 3);
        assert_eq!(cache.get(&"a"), None, "oldest evicted");
        assert_eq!(cache.get(&"c"), Some(3));
        clock.advance(Duration::from_secs(11));
        assert_eq!(cache.get(&"c"), None, "expired");
        assert!(cache.len() <= 2);
    }
}
