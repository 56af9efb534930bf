//! Sign up, log in, log out, who am I.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{CurrentUser, dummy_hash, hash_password, verify_password};
use crate::error::{ApiError, ApiJson};
use crate::state::AppState;
use crate::store;

/// Longest email accepted.
const MAX_EMAIL: usize = 254;
/// Password length bounds.
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
/// Longest display name.
const MAX_NAME: usize = 100;
/// Login attempts per account per minute.
const LOGINS_PER_ACCOUNT: u64 = 10;
/// Login attempts per client address per minute.
const LOGINS_PER_IP: u64 = 600;

/// `POST /api/auth/signup` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    email: String,
    password: String,
    name: String,
}

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

fn normalise_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_ascii_lowercase();
    let valid = email.len() <= MAX_EMAIL
        && email
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(ApiError::Validation("email must be a valid address".into()))
    }
}

/// Creates an account and signs it in.
pub async fn signup(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Signup>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = normalise_email(&body.email)?;
    if !PASSWORD_LEN.contains(&body.password.chars().count()) {
        return Err(ApiError::Validation(
            "password must be 8 to 128 characters".into(),
        ));
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::Validation(
            "name must be 1 to 100 characters".into(),
        ));
    }
    let hash = hash_password(body.password).await?;
    let user = match store::create_user(&state.db, &email, name, &hash).await {
        Ok(user) => user,
        Err(e)
            if e.as_database_error()
                .is_some_and(|d| d.is_unique_violation()) =>
        {
            return Err(ApiError::Conflict);
        }
        Err(e) => return Err(e.into()),
    };
    let token = state.sessions.create(user.id).await?;
    state.business.signups.inc();
    tracing::info!(user_id = user.id, "user signed up");
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "user": user})),
    ))
}

/// The client address as Caddy reports it (`X-Forwarded-For`), else the peer.
#[derive(Debug)]
pub struct ClientIp(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(ClientIp(
            forwarded_for(&parts.headers)
                .or(peer)
                .unwrap_or_else(|| "unknown".to_owned()),
        ))
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-forwarded-for")?
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Exchanges credentials for a session token, with rate limits per account and per address.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<Value>, ApiError> {
    let email = normalise_email(&body.email)?;
    let window = Duration::from_secs(60);
    for (key, limit) in [
        (format!("login:ip:{ip}"), LOGINS_PER_IP),
        (format!("login:account:{email}"), LOGINS_PER_ACCOUNT),
    ] {
        if let Err(retry_after) = state.limiter.hit(&key, limit, window).await? {
            state
                .business
                .logins
                .with_label_values(&["rate_limited"])
                .inc();
            tracing::warn!("login rate limited");
            return Err(ApiError::RateLimited(retry_after));
        }
    }
    let credentials = store::credentials(&state.db, &email).await?;
    let hash = credentials
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |c| c.password_hash.clone());
    let valid = verify_password(body.password, hash).await?;
    let Some(credentials) = credentials.filter(|_| valid) else {
        state
            .business
            .logins
            .with_label_values(&["bad_credentials"])
            .inc();
        tracing::info!("login with bad credentials");
        return Err(ApiError::BadCredentials);
    };
    let user = store::user(&state.db, credentials.id)
        .await?
        .ok_or(ApiError::BadCredentials)?;
    let token = state.sessions.create(user.id).await?;
    state.business.logins.with_label_values(&["success"]).inc();
    tracing::info!(user_id = user.id, "user logged in");
    Ok(Json(json!({"token": token, "user": user})))
}

/// Ends the current session.
pub async fn logout(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<StatusCode, ApiError> {
    state.sessions.revoke(&current.token).await?;
    tracing::info!(user_id = current.user.id, "user logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
pub async fn me(current: CurrentUser) -> Json<Value> {
    Json(json!({"user": current.user}))
}
