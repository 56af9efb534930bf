//! A bounded set of recently seen keys with a time to live: `Idempotency-Key`s of batches
//! already processed, and ids of web-vital reports already counted.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys longer than this are not remembered (and so never deduplicated).
pub(crate) const MAX_KEY_LEN: usize = 128;

/// Remembers up to `capacity` keys for `ttl` each; the oldest are forgotten first.
#[derive(Debug)]
pub(crate) struct SeenKeys {
    capacity: usize,
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Key → when it was (last) inserted.
    seen: HashMap<Box<str>, Instant>,
    /// Insertion order, oldest first; may hold stale entries for keys re-inserted later.
    order: VecDeque<(Box<str>, Instant)>,
}

impl SeenKeys {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        SeenKeys {
            capacity: capacity.max(1),
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// Remembers `key`; `true` when it was not already remembered (the first sighting within
    /// the time to live). Keys longer than [`MAX_KEY_LEN`] always count as new.
    pub(crate) fn insert(&self, key: &str, now: Instant) -> bool {
        if key.len() > MAX_KEY_LEN {
            return true;
        }
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let State { seen, order } = &mut *state;
        while let Some((front, at)) = order.front() {
            let expired = now.saturating_duration_since(*at) >= self.ttl;
            if !expired && order.len() < self.capacity {
                break;
            }
            if seen.get(front) == Some(at) {
                seen.remove(front);
            }
            order.pop_front();
        }
        if let Some(at) = seen.get(key)
            && now.saturating_duration_since(*at) < self.ttl
        {
            return false;
        }
        let key: Box<str> = key.into();
        seen.insert(key.clone(), now);
        order.push_back((key, now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_seen_until_they_expire() {
        let t0 = Instant::now();
        let keys = SeenKeys::new(10, Duration::from_secs(60));
        assert!(keys.insert("a", t0));
        assert!(!keys.insert("a", t0 + Duration::from_secs(59)));
        assert!(keys.insert("a", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn capacity_is_a_hard_bound() {
        let t0 = Instant::now();
        let keys = SeenKeys::new(100, Duration::from_secs(3600));
        for i in 0..10_000 {
            keys.insert(&i.to_string(), t0);
        }
        let state = keys.state.lock().unwrap();
        assert!(state.seen.len() <= 100 && state.order.len() <= 100);
        drop(state);
        // The newest are remembered, the oldest forgotten.
        assert!(!keys.insert("9999", t0));
        assert!(keys.insert("0", t0));
    }
}
