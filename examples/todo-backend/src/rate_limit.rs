//! Fixed-window rate limits: Redis `INCR` with expiry when Redis is there, in memory otherwise.
//!
//! Both are bounded whatever clients send. A key is hashed before it is stored, so a Redis key
//! is `ratelimit:{rule}:{16 hex digits}` and an in-memory entry is 16 bytes, however long the
//! key; at most [`MAX_KEY_BYTES`] of a key are read. In memory each rule keeps at most
//! [`MAX_LOCAL_KEYS`] keys per window; once full, clients not yet seen in the window share one
//! overflow counter under the same limit (so a flood of new addresses is limited as one
//! client, and nobody already counted loses their count). A hit is one hash and one map
//! lookup under the lock; a new window replaces the map in one step, and the old one is freed
//! outside the lock.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;

/// Keys counted per rule and window in memory; further new keys share one overflow counter.
pub const MAX_LOCAL_KEYS: usize = 10_000;

/// Bytes of a key that are read (and hashed); the rest is ignored.
pub const MAX_KEY_BYTES: usize = 320;

/// How many attempts a key may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name, part of every key (`login-ip`, `signup-ip`, ...).
    pub name: &'static str,
    /// Attempts allowed per window.
    pub limit: u64,
    pub window: Duration,
}

/// Counts attempts per rule, key and window.
#[derive(Debug)]
pub enum RateLimiter {
    /// Shared by every instance.
    Redis(InstrumentedConnection<ConnectionManager>),
    /// Per instance.
    Local(LocalLimiter),
}

/// The in-memory limiter: per rule, one fixed window with at most [`MAX_LOCAL_KEYS`] keys.
#[derive(Debug, Default)]
pub struct LocalLimiter {
    hasher: RandomState,
    rules: Mutex<HashMap<&'static str, Window>>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    counts: HashMap<u64, u64>,
    overflow: u64,
}

impl Window {
    fn new(now: Instant) -> Self {
        Window {
            started: now,
            counts: HashMap::new(),
            overflow: 0,
        }
    }
}

/// The bytes of `key` that count: at most [`MAX_KEY_BYTES`].
fn bounded(key: &str) -> &[u8] {
    let bytes = key.as_bytes();
    &bytes[..bytes.len().min(MAX_KEY_BYTES)]
}

impl LocalLimiter {
    /// Counts one attempt; `Err(retry_after_secs)` when over the limit.
    pub fn hit(&self, rule: &Rule, key: &str) -> Result<(), u64> {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(bounded(key));
        let hash = hasher.finish();
        let now = Instant::now();
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let window = rules.entry(rule.name).or_insert_with(|| Window::new(now));
        // Freed after the lock is released.
        let mut expired = None;
        if now.duration_since(window.started) >= rule.window {
            expired = Some(std::mem::replace(window, Window::new(now)));
        }
        let known = window.counts.contains_key(&hash);
        let count = if known || window.counts.len() < MAX_LOCAL_KEYS {
            window.counts.entry(hash).or_insert(0)
        } else {
            &mut window.overflow
        };
        *count += 1;
        let over = *count > rule.limit;
        let left = rule
            .window
            .saturating_sub(now.duration_since(window.started));
        drop(rules);
        drop(expired);
        if over {
            // Rounded up: retrying after this many seconds is never too early.
            Err((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1))
        } else {
            Ok(())
        }
    }

    /// Keys counted for `rule` in its current window (for tests and debugging).
    pub fn keys(&self, rule: &Rule) -> usize {
        let rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        rules.get(rule.name).map_or(0, |w| w.counts.len())
    }
}

/// The Redis key of `key` under `rule`: bounded length, no client text.
pub fn redis_key(rule: &Rule, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bounded(key));
    let mut out = format!("ratelimit:{}:", rule.name);
    for b in &digest[..8] {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl RateLimiter {
    /// An in-memory limiter.
    pub fn local() -> Self {
        RateLimiter::Local(LocalLimiter::default())
    }

    /// Counts one attempt on `key` under `rule`; `Err(retry_after_secs)` when over the limit.
    ///
    /// # Errors
    /// `Ok(Err(..))` is the limit; `Err` is Redis failing.
    pub async fn hit(&self, rule: &Rule, key: &str) -> Result<Result<(), u64>, redis::RedisError> {
        match self {
            RateLimiter::Redis(conn) => {
                let mut conn = conn.clone();
                let key = redis_key(rule, key);
                let (count, ttl): (u64, i64) = redis::pipe()
                    .atomic()
                    .incr(&key, 1u64)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(rule.window.as_secs().max(1))
                    .arg("NX")
                    .ignore()
                    .ttl(&key)
                    .query_async(&mut conn)
                    .await?;
                Ok(if count > rule.limit {
                    Err(u64::try_from(ttl).unwrap_or(1).max(1))
                } else {
                    Ok(())
                })
            }
            RateLimiter::Local(local) => Ok(local.hit(rule, key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        name: "test",
        limit: 2,
        window: Duration::from_secs(60),
    };

    #[test]
    fn limits_per_key_within_a_window() {
        let l = LocalLimiter::default();
        assert_eq!(l.hit(&RULE, "a"), Ok(()));
        assert_eq!(l.hit(&RULE, "a"), Ok(()));
        assert_eq!(l.hit(&RULE, "a"), Err(60));
        assert_eq!(l.hit(&RULE, "b"), Ok(()));
        let other = Rule {
            name: "other",
            ..RULE
        };
        assert_eq!(l.hit(&other, "a"), Ok(()));
    }

    #[test]
    fn a_new_window_starts_from_zero() {
        let l = LocalLimiter::default();
        let rule = Rule {
            window: Duration::from_millis(50),
            limit: 1,
            ..RULE
        };
        assert_eq!(l.hit(&rule, "a"), Ok(()));
        assert_eq!(l.hit(&rule, "a"), Err(1));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(l.hit(&rule, "a"), Ok(()));
        assert_eq!(l.keys(&rule), 1);
    }

    #[test]
    fn keys_are_capped_and_new_keys_share_the_overflow_counter() {
        let l = LocalLimiter::default();
        for i in 0..MAX_LOCAL_KEYS {
            assert_eq!(l.hit(&RULE, &format!("client-{i}")), Ok(()));
        }
        assert_eq!(l.keys(&RULE), MAX_LOCAL_KEYS);
        // Three new clients: the overflow counter allows two, like one client.
        assert_eq!(l.hit(&RULE, "new-1"), Ok(()));
        assert_eq!(l.hit(&RULE, "new-2"), Ok(()));
        assert_eq!(l.hit(&RULE, "new-3"), Err(60));
        assert_eq!(l.keys(&RULE), MAX_LOCAL_KEYS);
        // Clients already counted keep their own count.
        assert_eq!(l.hit(&RULE, "client-7"), Ok(()));
        assert_eq!(l.hit(&RULE, "client-7"), Err(60));
    }

    #[test]
    fn only_the_first_bytes_of_a_key_count() {
        let l = LocalLimiter::default();
        let long = "x".repeat(MAX_KEY_BYTES);
        assert_eq!(l.hit(&RULE, &format!("{long}a")), Ok(()));
        assert_eq!(l.hit(&RULE, &format!("{long}b")), Ok(()));
        assert_eq!(l.hit(&RULE, &format!("{long}c")), Err(60));
        assert_eq!(l.keys(&RULE), 1);
        let key = redis_key(&RULE, &"y".repeat(100_000));
        assert_eq!(key.len(), "ratelimit:test:".len() + 16);
        assert_eq!(key, redis_key(&RULE, &"y".repeat(MAX_KEY_BYTES)));
    }
}
