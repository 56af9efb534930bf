//! Token-bucket rate limiting, globally or per application.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest `Retry-After` the receiver sends, in seconds.
const MIN_RETRY_AFTER_SECS: u64 = 1;
/// The longest `Retry-After` the receiver sends, in seconds; the Faro SDK drops batches told to
/// wait longer.
const MAX_RETRY_AFTER_SECS: u64 = 30;

/// One token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn full(burst: f64, now: Instant) -> Self {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is available.
    fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - self.tokens) / rate).min(MAX_RETRY_AFTER_SECS as f64),
            ))
        }
    }
}

/// Limits requests to `rate` per second with bursts of `burst`, over one bucket or one bucket
/// per key. Keys must come from a bounded set (the app-name allow-list plus `other`): the
/// limiter keeps one bucket per key it has seen.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    global: Mutex<Bucket>,
    per_key: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter; a `rate` that is not positive and finite turns limiting off.
    pub(crate) fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate,
            burst,
            global: Mutex::new(Bucket::full(burst, now)),
            per_key: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        self.rate.is_finite() && self.rate > 0.0
    }

    /// Takes a token from the global bucket; `Err` holds the `Retry-After` in seconds.
    pub(crate) fn check_global(&self, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let mut bucket = self
            .global
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket
            .take(self.rate, self.burst, now)
            .map_err(retry_after_secs)
    }

    /// Takes a token from `key`'s bucket; `Err` holds the `Retry-After` in seconds.
    pub(crate) fn check_key(&self, key: &str, now: Instant) -> Result<(), u64> {
        if !self.enabled() {
            return Ok(());
        }
        let mut buckets = self
            .per_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = match buckets.get_mut(key) {
            Some(bucket) => bucket,
            None => buckets
                .entry(key.to_owned())
                .or_insert_with(|| Bucket::full(self.burst, now)),
        };
        bucket
            .take(self.rate, self.burst, now)
            .map_err(retry_after_secs)
    }
}

/// Whole seconds, rounded up, within 1..=30.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.clamp(MIN_RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(2.0, 3, t0);
        for _ in 0..3 {
            assert_eq!(limiter.check_global(t0), Ok(()));
        }
        assert_eq!(limiter.check_global(t0), Err(1));
        assert_eq!(
            limiter.check_global(t0 + Duration::from_millis(500)),
            Ok(())
        );
    }

    #[test]
    fn retry_after_is_bounded() {
        let t0 = Instant::now();
        let slow = RateLimiter::new(0.001, 1, t0);
        assert_eq!(slow.check_global(t0), Ok(()));
        assert_eq!(slow.check_global(t0), Err(30));
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(1.0, 1, t0);
        assert_eq!(limiter.check_key("a", t0), Ok(()));
        assert!(limiter.check_key("a", t0).is_err());
        assert_eq!(limiter.check_key("b", t0), Ok(()));
    }

    #[test]
    fn zero_rate_turns_limiting_off() {
        let t0 = Instant::now();
        let limiter = RateLimiter::new(0.0, 1, t0);
        for _ in 0..10 {
            assert_eq!(limiter.check_global(t0), Ok(()));
        }
    }
}
