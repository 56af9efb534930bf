//! Fixed-window rate limits: Redis `INCR` with expiry when Redis is there, in memory otherwise.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;

/// Entries kept in memory before expired windows are swept.
const MAX_LOCAL_KEYS: usize = 10_000;

/// Counts attempts per key and window.
#[derive(Debug)]
pub enum RateLimiter {
    /// Shared by every instance.
    Redis(InstrumentedConnection<ConnectionManager>),
    /// Per instance.
    Local(Mutex<HashMap<String, (u64, Instant)>>),
}

impl RateLimiter {
    /// Counts one attempt on `key`; `Err(retry_after_secs)` when over `limit` in `window`.
    ///
    /// # Errors
    /// `Ok(Err(..))` is the limit; `Err` is Redis failing.
    pub async fn hit(
        &self,
        key: &str,
        limit: u64,
        window: Duration,
    ) -> Result<Result<(), u64>, redis::RedisError> {
        match self {
            RateLimiter::Redis(conn) => {
                let mut conn = conn.clone();
                let key = format!("ratelimit:{key}");
                let (count, ttl): (u64, i64) = redis::pipe()
                    .atomic()
                    .incr(&key, 1u64)
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(window.as_secs().max(1))
                    .arg("NX")
                    .ignore()
                    .ttl(&key)
                    .query_async(&mut conn)
                    .await?;
                Ok(if count > limit {
                    Err(u64::try_from(ttl).unwrap_or(1).max(1))
                } else {
                    Ok(())
                })
            }
            RateLimiter::Local(map) => {
                let now = Instant::now();
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                if map.len() >= MAX_LOCAL_KEYS {
                    map.retain(|_, (_, start)| now.duration_since(*start) < window);
                }
                let entry = map.entry(key.to_owned()).or_insert((0, now));
                if now.duration_since(entry.1) >= window {
                    *entry = (0, now);
                }
                entry.0 += 1;
                Ok(if entry.0 > limit {
                    let left = window.saturating_sub(now.duration_since(entry.1));
                    Err(left.as_secs().max(1))
                } else {
                    Ok(())
                })
            }
        }
    }
}
