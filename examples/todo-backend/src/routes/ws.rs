//! `POST /api/ws/ticket`, then `GET /api/ws?ticket=...`: pushes the user's todo changes as they
//! happen. Browsers cannot set headers on a websocket, and a session token in a URL would be
//! written to proxy access logs, so the socket is opened with a single-use ticket that expires
//! in seconds (see [`crate::tickets`]). The socket closes when its session ends: at once on
//! logout (on any instance), and within [`SESSION_CHECK_INTERVAL`] on expiry.

use std::time::Duration;

use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{CurrentUser, token_hash};
use crate::business::WsConnectionGuard;
use crate::error::ApiError;
use crate::events::SESSION_ENDED;
use crate::state::AppState;
use crate::tickets::TICKET_TTL;

/// How often an open socket checks that its session is still live (expiry; logout closes it
/// at once).
pub const SESSION_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The close code sent when the session ended (a private-use code: "session ended").
pub const CLOSE_SESSION_ENDED: u16 = 4001;

/// The query of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    ticket: Option<String>,
}

/// Issues a single-use ticket for opening a websocket with the current session.
pub async fn ticket(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Value>, ApiError> {
    let key = current.user.id.to_string();
    if let Err(retry_after) = state
        .limiter
        .hit(&state.rules.ws_ticket_per_user, &key)
        .await?
    {
        return Err(ApiError::RateLimited(retry_after));
    }
    let ticket = state.tickets.issue(&token_hash(&current.token)).await?;
    Ok(Json(
        json!({"ticket": ticket, "expires_in": TICKET_TTL.as_secs()}),
    ))
}

/// Redeems the ticket, then upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let ticket = query.ticket.ok_or(ApiError::Unauthorized)?;
    let session = state
        .tickets
        .redeem(&ticket)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let user_id = state
        .sessions
        .user_id_by_hash(&session)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(ws.on_upgrade(move |socket| run(socket, state, user_id, session)))
}

async fn run(mut socket: WebSocket, state: AppState, user_id: i64, session: String) {
    let _open = WsConnectionGuard::new(&state.business.ws_connections);
    let messages_in = state.business.ws_messages.with_label_values(&["in"]);
    let messages_out = state.business.ws_messages.with_label_values(&["out"]);
    let mut events = state.events.subscribe();
    let mut check = tokio::time::interval(SESSION_CHECK_INTERVAL);
    check.tick().await;
    tracing::info!(user_id, "websocket opened");
    let mut session_ended = false;
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.kind == SESSION_ENDED => {
                    if event.session.as_deref() == Some(session.as_str()) {
                        session_ended = true;
                        break;
                    }
                }
                Ok(event) if event.user_id == Some(user_id) => {
                    let mut event = event;
                    event.user_id = None;
                    event.session = None;
                    let Ok(text) = serde_json::to_string(&event) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                    messages_out.inc();
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(user_id, missed, "websocket fell behind; events skipped");
                }
                Err(RecvError::Closed) => break,
            },
            _ = check.tick() => match state.sessions.user_id_by_hash(&session).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    session_ended = true;
                    break;
                }
                // The store is down: keep the socket; the next check decides.
                Err(error) => tracing::warn!(user_id, %error, "websocket session check failed"),
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(Message::Text(text))) => {
                    messages_in.inc();
                    if text.as_str() == "ping" {
                        if socket.send(Message::Text("pong".into())).await.is_err() {
                            break;
                        }
                        messages_out.inc();
                    }
                }
                Some(Ok(_)) => messages_in.inc(),
            },
        }
    }
    if session_ended {
        let close = Message::Close(Some(CloseFrame {
            code: CLOSE_SESSION_ENDED,
            reason: "session ended".into(),
        }));
        // Best effort: the client may be gone already.
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(close)).await;
        tracing::info!(user_id, "websocket closed: session ended");
    } else {
        tracing::info!(user_id, "websocket closed");
    }
}
