//! Password hashing with a memory budget.
//!
//! One argon2id hash or verification with the default parameters holds
//! [`ARGON2_MEMORY_MIB`] of memory for its duration. Unbounded, a burst of signups or logins
//! asks for that many times the burst size. [`HashGate`] runs them on
//! `budget / ARGON2_MEMORY_MIB` threads of its own; a request beyond that waits up to
//! `wait` for its turn (and at most [`MAX_WAITING_PER_PERMIT`] requests per thread wait at
//! all), then is answered 503 with `Retry-After`. The turn travels with the job, so a client
//! that disconnects mid-hash does not free its slot before the memory is freed.
//!
//! Each thread allocates its argon2 memory once and reuses it for every hash, rather than
//! allocating per hash on tokio's blocking pool: the allocator keeps freed memory per thread
//! (glibc keeps up to three hashes' worth per arena), and the blocking pool grows to hundreds
//! of threads under a burst. So the process's peak stays near `threads × ARGON2_MEMORY_MIB`
//! above its resting size, whatever the allocator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ApiError;

/// Memory one argon2id computation holds with the default parameters (m = 19456 KiB).
pub const ARGON2_MEMORY_MIB: u64 = 19;

/// The default budget: a quarter of a 512 MiB container, 6 hashes at once.
pub const DEFAULT_MEMORY_BUDGET_MIB: u64 = 128;

/// The default wait for a turn before answering 503.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(2);

/// Requests that may wait per permit; beyond that a request is answered 503 at once.
pub const MAX_WAITING_PER_PERMIT: usize = 8;

/// The `Retry-After` of a 503 when hashing is saturated, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// Bounds concurrent password hashing. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HashGate {
    permits: Arc<Semaphore>,
    size: usize,
    waiting: Arc<AtomicUsize>,
    wait: Duration,
    jobs: mpsc::Sender<Job>,
}

/// A hash or verification, given the thread's argon2 memory.
type Work = Box<dyn FnOnce(&mut [Block]) + Send>;

/// Work for a hashing thread (given the thread's argon2 memory), with the turn it holds until
/// done.
struct Job {
    work: Work,
    _permit: OwnedSemaphorePermit,
}

/// Decrements the waiting count when the wait ends, however it ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// As many concurrent hashes (and threads) as `budget_mib` holds (at least one); requests
    /// wait up to `wait` for a turn.
    pub fn new(budget_mib: u64, wait: Duration) -> Self {
        let wanted = usize::try_from((budget_mib / ARGON2_MEMORY_MIB).max(1)).unwrap_or(1);
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut size = 0;
        for i in 0..wanted {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&rx));
            match spawned {
                Ok(_) => size += 1,
                Err(error) => tracing::warn!(%error, "starting a password hashing thread failed"),
            }
        }
        // With no thread at all, every request is answered 503 rather than hanging.
        HashGate {
            permits: Arc::new(Semaphore::new(size)),
            size,
            waiting: Arc::new(AtomicUsize::new(0)),
            wait,
            jobs,
        }
    }

    /// How many hashes may run at once.
    pub fn concurrency(&self) -> usize {
        self.size
    }

    async fn permit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        if queued >= self.size.saturating_mul(MAX_WAITING_PER_PERMIT) {
            tracing::warn!("password hashing saturated; request refused");
            return Err(ApiError::Busy(RETRY_AFTER_SECS));
        }
        match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => {
                tracing::warn!("password hashing saturated; request refused");
                Err(ApiError::Busy(RETRY_AFTER_SECS))
            }
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = self.permit().await?;
        let (tx, rx) = oneshot::channel();
        let job = Job {
            work: Box::new(move |memory| {
                let _ = tx.send(work(memory));
            }),
            _permit: permit,
        };
        self.jobs
            .send(job)
            .map_err(|_| ApiError::Internal("password hashing threads are gone".into()))?;
        rx.await
            .map_err(|_| ApiError::Internal("password hashing job was lost".into()))
    }

    /// Hashes `password` when there is room.
    ///
    /// # Errors
    /// [`ApiError::Busy`] when no turn came within the wait; `Internal` when hashing fails.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move |memory| hash_with(memory, &password)).await?
    }

    /// Checks `password` against `hash` when there is room.
    ///
    /// # Errors
    /// [`ApiError::Busy`] when no turn came within the wait.
    pub async fn verify(&self, password: String, hash: String) -> Result<bool, ApiError> {
        self.run(move |memory| verify_with(memory, &password, &hash))
            .await
    }
}

/// A hashing thread: runs jobs until every [`HashGate`] is dropped, with argon2 memory of its
/// own allocated once.
fn worker(rx: &Mutex<mpsc::Receiver<Job>>) {
    let mut memory = vec![Block::new(); Params::default().block_count()];
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        let work = job.work;
        let memory = &mut memory;
        // A panic in the hasher must not take the thread (and its turn) with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || work(memory)));
    }
}

/// An argon2id hash with the default parameters as a PHC string, computed in `memory`.
fn hash_with(memory: &mut [Block], password: &str) -> Result<String, ApiError> {
    let failed = |e: &dyn std::fmt::Display| ApiError::Internal(format!("hashing: {e}"));
    let params = Params::default();
    let blocks = params.block_count();
    let memory = memory
        .get_mut(..blocks)
        .ok_or_else(|| failed(&"too little memory"))?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory)
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `hash`, computed in `memory`. A hash asking for
/// more memory than the default (none is ever stored) does not match.
fn verify_with(memory: &mut [Block], password: &str, hash: &str) -> bool {
    let Ok(phc) = PasswordHash::new(hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&phc),
        Algorithm::new(phc.algorithm.as_str()),
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return false;
    };
    let Some(memory) = memory.get_mut(..params.block_count()) else {
        return false;
    };
    let mut out = [0u8; Output::MAX_LENGTH];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), out, memory)
        .is_ok()
        && Output::new(out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_standard_phc_strings_and_verify() {
        let mut memory = vec![Block::new(); Params::default().block_count()];
        let hash = hash_with(&mut memory, "correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_with(&mut memory, "correct horse", &hash));
        assert!(!verify_with(&mut memory, "wrong", &hash));
        // Interoperable both ways with the argon2 crate's own PHC code.
        assert!(crate::auth::verify_blocking("correct horse", &hash));
        let theirs = crate::auth::hash_blocking("battery staple").unwrap();
        assert!(verify_with(&mut memory, "battery staple", &theirs));
        assert!(!verify_with(&mut memory, "x", crate::auth::dummy_hash()));
        assert!(!verify_with(&mut memory, "x", "not a hash"));
    }

    #[test]
    fn concurrency_follows_the_budget() {
        assert_eq!(
            HashGate::new(DEFAULT_MEMORY_BUDGET_MIB, DEFAULT_WAIT).concurrency(),
            6
        );
        assert_eq!(HashGate::new(0, DEFAULT_WAIT).concurrency(), 1);
        assert_eq!(HashGate::new(190, DEFAULT_WAIT).concurrency(), 10);
    }

    #[tokio::test]
    async fn beyond_the_wait_the_answer_is_busy() {
        let gate = HashGate::new(ARGON2_MEMORY_MIB, Duration::from_millis(50));
        let held = gate.permit().await.unwrap();
        assert!(matches!(gate.permit().await, Err(ApiError::Busy(1))));
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0);
        drop(held);
        assert!(gate.permit().await.is_ok());
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let gate = HashGate::new(ARGON2_MEMORY_MIB, Duration::from_secs(30));
        let _held = gate.permit().await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..MAX_WAITING_PER_PERMIT {
            let gate = gate.clone();
            waiters.push(tokio::spawn(async move { gate.permit().await.map(drop) }));
        }
        while gate.waiting.load(Ordering::Acquire) < MAX_WAITING_PER_PERMIT {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert!(matches!(gate.permit().await, Err(ApiError::Busy(1))));
        assert!(started.elapsed() < Duration::from_secs(1));
        for w in waiters {
            w.abort();
        }
    }
}
