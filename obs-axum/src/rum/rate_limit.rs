//! Token-bucket rate limiting: globally, per application, and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
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

/// One bucket per client address, in a key set bounded by `capacity`.
///
/// Two generations of buckets: lookups try the current one, then the previous one (moving the
/// bucket over). When the current generation is full it becomes the previous one and the
/// oldest is forgotten whole, so every request costs a constant number of hash operations and
/// memory stays under two generations, however many addresses send. A forgotten client starts
/// again with a full bucket; the global limit still bounds them all together.
#[derive(Debug)]
pub(crate) struct ClientLimiter {
    rate: f64,
    burst: f64,
    capacity: usize,
    generations: Mutex<Generations>,
}

#[derive(Debug, Default)]
struct Generations {
    current: HashMap<ClientKey, Bucket>,
    previous: HashMap<ClientKey, Bucket>,
}

/// An IPv4 address, or the /64 network of an IPv6 address: one host usually holds a whole /64,
/// so keying by address would give it 2^64 buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

impl ClientLimiter {
    /// A limiter keeping at most `2 × capacity` clients; a `rate` that is not positive and
    /// finite turns limiting off.
    pub(crate) fn new(rate: f64, burst: u32, capacity: usize) -> Self {
        ClientLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            capacity: capacity.max(1),
            generations: Mutex::new(Generations::default()),
        }
    }

    /// Takes a token from `client`'s bucket; `Err` holds the `Retry-After` in seconds.
    pub(crate) fn check(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Ok(());
        }
        let key = ClientKey::from(client);
        let mut g = self
            .generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Generations { current, previous } = &mut *g;
        if !current.contains_key(&key) {
            let bucket = previous
                .remove(&key)
                .unwrap_or_else(|| Bucket::full(self.burst, now));
            if current.len() >= self.capacity {
                *previous = std::mem::take(current);
            }
            current.insert(key, bucket);
        }
        let Some(bucket) = current.get_mut(&key) else {
            return Ok(());
        };
        bucket
            .take(self.rate, self.burst, now)
            .map_err(retry_after_secs)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let g = self.generations.lock().unwrap();
        g.current.len() + g.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_have_their_own_buckets_and_a_bounded_key_set() {
        let t0 = Instant::now();
        let limiter = ClientLimiter::new(1.0, 2, 100);
        let flood: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(limiter.check(flood, t0), Ok(()));
        assert_eq!(limiter.check(flood, t0), Ok(()));
        assert_eq!(limiter.check(flood, t0), Err(1));
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(limiter.check(other, t0), Ok(()));
        for i in 0..10_000u32 {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(limiter.check(ip, t0), Ok(()));
            assert!(limiter.len() <= 200);
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let t0 = Instant::now();
        let limiter = ClientLimiter::new(1.0, 1, 100);
        assert_eq!(
            limiter.check("2001:db8:1:2::1".parse().unwrap(), t0),
            Ok(())
        );
        assert_eq!(
            limiter.check("2001:db8:1:2::ffff".parse().unwrap(), t0),
            Err(1)
        );
        assert_eq!(
            limiter.check("2001:db8:1:3::1".parse().unwrap(), t0),
            Ok(())
        );
    }

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
