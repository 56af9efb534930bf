//! `GET /api/ws?token=...`: pushes the user's todo changes as they happen. Browsers cannot set
//! headers on a websocket, so the token comes in the query (never logged: spans record the
//! path only).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::CurrentUser;
use crate::business::WsConnectionGuard;
use crate::error::ApiError;
use crate::state::AppState;

/// The query of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Authenticates, then upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let token = query.token.ok_or(ApiError::Unauthorized)?;
    let current = CurrentUser::from_token(&state, &token).await?;
    Ok(ws.on_upgrade(move |socket| run(socket, state, current.user.id)))
}

async fn run(mut socket: WebSocket, state: AppState, user_id: i64) {
    let _open = WsConnectionGuard::new(&state.business.ws_connections);
    let messages_in = state.business.ws_messages.with_label_values(&["in"]);
    let messages_out = state.business.ws_messages.with_label_values(&["out"]);
    let mut events = state.events.subscribe();
    tracing::info!(user_id, "websocket opened");
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) if event.user_id == Some(user_id) => {
                    let mut event = event;
                    event.user_id = None;
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
    tracing::info!(user_id, "websocket closed");
}
