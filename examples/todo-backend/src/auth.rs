//! Passwords (argon2id), opaque session tokens, and the extractor that turns a bearer token into
//! the current user. Neither passwords nor tokens are ever logged or put on spans.

use std::fmt::Write as _;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use obs_redis::InstrumentedConnection;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{self, User};

/// How long a cached user profile lives in Redis.
const USER_CACHE_TTL: u64 = 60;

/// Hashes a password with argon2id on a blocking thread: it is slow on purpose.
///
/// # Errors
/// When hashing fails or the blocking pool is gone.
/// Handlers go through [`HashGate`](crate::hashing::HashGate), which bounds how many run at
/// once.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Hashes a password with argon2id on the calling thread.
///
/// # Errors
/// When hashing fails.
pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing: {e}")))
}

/// Checks a password against its stored hash on the calling thread.
pub fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a password against its stored hash on a blocking thread.
///
/// # Errors
/// When the blocking pool is gone.
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// A hash that no password matches, so a login for an unknown email costs as much as one for
/// a known email (no timing oracle for which accounts exist).
pub fn dummy_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0IhR7jsMHO6WxVDPc9DvD9HkWmDcrO8ZbI0yqL0d1Kk"
}

/// A new session token (32 random bytes, hex) and the hash that is stored.
///
/// # Errors
/// When the OS has no randomness to give.
pub fn new_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("randomness: {e}")))?;
    let token = hex(&bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// What is stored for a token: its SHA-256, so a leaked store leaks no usable tokens.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Where sessions live: Redis with a TTL, or the SQL table when Redis is absent.
#[derive(Debug)]
pub enum Sessions {
    /// `session:{hash}` → user id, with expiry; `sessions:live` sorted set for counting.
    Redis {
        conn: InstrumentedConnection<ConnectionManager>,
        ttl: Duration,
        /// The database, for user profiles.
        db: Db,
    },
    /// The `sessions` table.
    Sql { db: Db, ttl: Duration },
}

impl Sessions {
    /// Starts a session for `user_id`; returns the token to hand to the client.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn create(&self, user_id: i64) -> Result<String, ApiError> {
        let (token, hash) = new_token()?;
        match self {
            Sessions::Redis { conn, ttl, .. } => {
                let mut conn = conn.clone();
                let expires = Utc::now().timestamp() + ttl.as_secs() as i64;
                redis::pipe()
                    .set_ex(format!("session:{hash}"), user_id, ttl.as_secs())
                    .ignore()
                    .zadd("sessions:live", &hash, expires)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            Sessions::Sql { db, ttl } => {
                let expires = Utc::now()
                    + chrono::Duration::from_std(*ttl).unwrap_or(chrono::Duration::days(7));
                store::insert_session(db, &hash, user_id, expires).await?;
            }
        }
        Ok(token)
    }

    /// The user of a live session.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn user_id(&self, token: &str) -> Result<Option<i64>, ApiError> {
        self.user_id_by_hash(&token_hash(token)).await
    }

    /// The user of a live session, by the hash of its token.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn user_id_by_hash(&self, hash: &str) -> Result<Option<i64>, ApiError> {
        Ok(match self {
            Sessions::Redis { conn, .. } => {
                let mut conn = conn.clone();
                conn.get::<_, Option<i64>>(format!("session:{hash}"))
                    .await?
            }
            Sessions::Sql { db, .. } => store::session_user(db, hash).await?,
        })
    }

    /// Ends the session of `token`.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn revoke(&self, token: &str) -> Result<(), ApiError> {
        let hash = token_hash(token);
        match self {
            Sessions::Redis { conn, .. } => {
                let mut conn = conn.clone();
                redis::pipe()
                    .del(format!("session:{hash}"))
                    .ignore()
                    .zrem("sessions:live", &hash)
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            Sessions::Sql { db, .. } => store::delete_session(db, &hash).await?,
        }
        Ok(())
    }

    /// Sessions not yet expired (expired ones are swept first).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn live_count(&self) -> Result<i64, ApiError> {
        Ok(match self {
            Sessions::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let (count,): (i64,) = redis::pipe()
                    .zrembyscore("sessions:live", "-inf", Utc::now().timestamp())
                    .ignore()
                    .zcard("sessions:live")
                    .query_async(&mut conn)
                    .await?;
                count
            }
            Sessions::Sql { db, .. } => store::live_sessions(db).await?,
        })
    }

    /// The profile of `user_id`, from the Redis cache when there is one.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn user(&self, db: &Db, user_id: i64) -> Result<Option<User>, ApiError> {
        let Sessions::Redis { conn, .. } = self else {
            return Ok(store::user(db, user_id).await?);
        };
        let mut conn = conn.clone();
        let key = format!("user:{user_id}");
        if let Some(cached) = conn.get::<_, Option<String>>(&key).await?
            && let Ok(user) = serde_json::from_str::<User>(&cached)
        {
            return Ok(Some(user));
        }
        let user = store::user(db, user_id).await?;
        if let Some(user) = &user
            && let Ok(json) = serde_json::to_string(user)
        {
            conn.set_ex::<_, _, ()>(&key, json, USER_CACHE_TTL).await?;
        }
        Ok(user)
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The signed-in user; rejects with 401 otherwise.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// The session token the request used.
    pub token: String,
}

impl CurrentUser {
    /// Resolves `token` to its user.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] for an unknown or expired token.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let user_id = state
            .sessions
            .user_id(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        let user = state
            .sessions
            .user(&state.db, user_id)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        Ok(CurrentUser {
            user,
            token: token.to_owned(),
        })
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?.to_owned();
        Self::from_token(state, &token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_round_trip() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), hash).await.unwrap());
        assert!(
            !verify_password("x".into(), dummy_hash().into())
                .await
                .unwrap()
        );
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_token().unwrap();
        let (b, _) = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
            "{a}"
        );
        // What is stored is the hash lookups compute; its value is pinned below.
        assert_eq!(ha, token_hash(&a));
        assert_ne!(ha, a);
    }

    /// The stored hash is the hex SHA-256 of the token's text. Expected values from
    /// `printf '<token>' | sha256sum` (the first is FIPS 180-2's "abc" vector).
    #[test]
    fn token_hash_is_the_hex_sha256_of_the_token_text() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            token_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            token_hash("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
            "6c86c6aac5fb24bcf5d9939cb7d7d5645ce39418f449e03b262dd4fa14b4b92b"
        );
    }
}
