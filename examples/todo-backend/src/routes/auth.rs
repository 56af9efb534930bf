//! Sign up, log in, log out, who am I.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{CurrentUser, dummy_hash, token_hash};
use crate::error::{ApiError, ApiJson};
use crate::events::TodoEvent;
use crate::rate_limit::Rule;
use crate::state::AppState;
use crate::store;

/// Longest email accepted.
const MAX_EMAIL: usize = 254;
/// Password length bounds.
const PASSWORD_LEN: std::ops::RangeInclusive<usize> = 8..=128;
/// Longest display name.
const MAX_NAME: usize = 100;

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
    client: ClientIp,
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
    limit(&state, &state.rules.signup_per_client, &client.key()).await?;
    let hash = state.hashing.hash(body.password).await?;
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

/// The client's address: the TCP peer, or the address a trusted proxy (`TRUSTED_PROXIES`)
/// forwarded for. Never text the client chose.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// The rate limit key: the address, or `unknown` without a peer address (a server not
    /// started with connect info).
    pub fn key(&self) -> String {
        self.0
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(
            state.trusted_proxies.client_ip(peer, &parts.headers),
        ))
    }
}

/// Counts one attempt under `rule`; a 429 with `Retry-After` when over it.
async fn limit(state: &AppState, rule: &Rule, key: &str) -> Result<(), ApiError> {
    match state.limiter.hit(rule, key).await? {
        Ok(()) => Ok(()),
        Err(retry_after) => {
            tracing::warn!(rule = rule.name, "rate limited");
            Err(ApiError::RateLimited(retry_after))
        }
    }
}

/// Exchanges credentials for a session token, with rate limits per account and per address.
pub async fn login(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Json<Value>, ApiError> {
    let email = normalise_email(&body.email)?;
    for (rule, key) in [
        (&state.rules.login_per_client, client.key()),
        (&state.rules.login_per_account, email.clone()),
    ] {
        if let Err(limited) = limit(&state, rule, &key).await {
            state
                .business
                .logins
                .with_label_values(&["rate_limited"])
                .inc();
            return Err(limited);
        }
    }
    let credentials = store::credentials(&state.db, &email).await?;
    let hash = credentials
        .as_ref()
        .map_or_else(|| dummy_hash().to_owned(), |c| c.password_hash.clone());
    let valid = state.hashing.verify(body.password, hash).await?;
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
    // Its websockets, on every instance, close now.
    state
        .events
        .publish(TodoEvent::session_ended(token_hash(&current.token)))
        .await;
    tracing::info!(user_id = current.user.id, "user logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
pub async fn me(current: CurrentUser) -> Json<Value> {
    Json(json!({"user": current.user}))
}
