//! Todo change events for the websocket: published through Redis pub/sub when Redis is there,
//! so a change made on one instance reaches sockets on every instance; in-process otherwise.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::store::Todo;

/// The Redis channel events travel on, followed by the database number: pub/sub ignores
/// database numbers, so services sharing one Redis server on different databases (staging and
/// production, or parallel test runs) would otherwise receive each other's events, and user ids
/// repeat across their databases.
const CHANNEL_PREFIX: &str = "todo-events:v1:db";
/// Events buffered per slow socket before it starts missing some.
const LOCAL_CAPACITY: usize = 1024;

/// One change to one user's todos.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TodoEvent {
    /// The owner; only their sockets get the event.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<i64>,
    /// `created`, `updated` or `deleted`.
    pub kind: String,
    pub id: i64,
    /// The todo after the change (absent for `deleted`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub todo: Option<Todo>,
    /// For [`SESSION_ENDED`]: the hash of the session's token. Never sent to a socket.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub session: Option<String>,
}

/// The kind of the event that closes the websockets of a session that was logged out.
pub const SESSION_ENDED: &str = "session_ended";

impl TodoEvent {
    /// The session whose token hashes to `session_hash` has ended.
    pub fn session_ended(session_hash: String) -> Self {
        TodoEvent {
            user_id: None,
            kind: SESSION_ENDED.to_owned(),
            id: 0,
            todo: None,
            session: Some(session_hash),
        }
    }
}

/// Publishes and fans out events.
#[derive(Debug, Clone)]
pub struct Events {
    local: broadcast::Sender<TodoEvent>,
    redis: Option<InstrumentedConnection<ConnectionManager>>,
    channel: Arc<str>,
}

impl Events {
    /// In-process only.
    pub fn local() -> Self {
        Events {
            local: broadcast::channel(LOCAL_CAPACITY).0,
            redis: None,
            channel: Arc::from(""),
        }
    }

    /// Through Redis; spawns the subscriber that feeds local sockets.
    pub fn redis(conn: InstrumentedConnection<ConnectionManager>, client: redis::Client) -> Self {
        let channel = channel_of(&client);
        let events = Events {
            local: broadcast::channel(LOCAL_CAPACITY).0,
            redis: Some(conn),
            channel: Arc::clone(&channel),
        };
        tokio::spawn(subscribe(client, channel, events.local.clone()));
        events
    }

    /// Sends `event` to every socket of its user, on every instance.
    pub async fn publish(&self, event: TodoEvent) {
        match &self.redis {
            Some(conn) => {
                let Ok(payload) = serde_json::to_string(&event) else {
                    return;
                };
                let mut conn = conn.clone();
                let sent: Result<i64, _> = redis::cmd("PUBLISH")
                    .arg(&*self.channel)
                    .arg(payload)
                    .query_async(&mut conn)
                    .await;
                if let Err(error) = sent {
                    // The change is stored; only live updates are lost. Deliver locally at least.
                    tracing::warn!(%error, "publishing todo event failed");
                    let _ = self.local.send(event);
                }
            }
            None => {
                // No receivers is fine: nobody has a socket open.
                let _ = self.local.send(event);
            }
        }
    }

    /// A receiver of every event on this instance.
    pub fn subscribe(&self) -> broadcast::Receiver<TodoEvent> {
        self.local.subscribe()
    }
}

/// The channel of the database `client` connects to.
fn channel_of(client: &redis::Client) -> Arc<str> {
    let db = client.get_connection_info().redis_settings().db();
    Arc::from(format!("{CHANNEL_PREFIX}{db}"))
}

/// Forwards the Redis channel into the local broadcast, reconnecting with backoff.
async fn subscribe(client: redis::Client, channel: Arc<str>, local: broadcast::Sender<TodoEvent>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(error) = pubsub.subscribe(&*channel).await {
                    tracing::warn!(%error, "subscribing to todo events failed");
                } else {
                    backoff = Duration::from_millis(200);
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let Ok(payload) = message.get_payload::<String>() else {
                            continue;
                        };
                        if let Ok(event) = serde_json::from_str::<TodoEvent>(&payload) {
                            let _ = local.send(event);
                        }
                    }
                    tracing::warn!("todo event subscription ended; reconnecting");
                }
            }
            Err(error) => tracing::warn!(%error, "connecting for todo events failed"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_database_has_its_own_channel() {
        let channel = |url: &str| channel_of(&redis::Client::open(url).unwrap());
        assert_eq!(&*channel("redis://127.0.0.1:6379/"), "todo-events:v1:db0");
        assert_eq!(&*channel("redis://127.0.0.1:6379/8"), "todo-events:v1:db8");
    }
}
