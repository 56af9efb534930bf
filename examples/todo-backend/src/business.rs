//! Business metrics: what the service is for, next to how it performs.

use std::time::Duration;

use obs_core::prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::state::AppState;
use crate::store;

// Metric names; those with labels say which.
pub const TODO_USERS: &str = "todo_users";
pub const TODO_SESSIONS_ACTIVE: &str = "todo_sessions_active";
/// `todo_items{status}`.
pub const TODO_ITEMS: &str = "todo_items";
pub const TODO_SIGNUPS: &str = "todo_signups_total";
/// `todo_logins_total{result}`.
pub const TODO_LOGINS: &str = "todo_logins_total";
/// `todo_items_created_total{priority}`.
pub const TODO_ITEMS_CREATED: &str = "todo_items_created_total";
pub const TODO_ITEMS_COMPLETED: &str = "todo_items_completed_total";
pub const TODO_WS_CONNECTIONS: &str = "todo_ws_connections";
/// `todo_ws_messages_total{direction}`.
pub const TODO_WS_MESSAGES: &str = "todo_ws_messages_total";

/// The statuses a todo can have.
pub const STATUSES: [&str; 3] = ["todo", "in_progress", "done"];
/// The priorities a todo can have.
pub const PRIORITIES: [&str; 3] = ["low", "medium", "high"];
/// The results a login can have.
pub const LOGIN_RESULTS: [&str; 3] = ["success", "bad_credentials", "rate_limited"];

/// The service's own metrics.
#[derive(Clone, Debug)]
pub struct BusinessMetrics {
    /// Registered users.
    pub users: IntGauge,
    /// Sessions not yet expired.
    pub sessions_active: IntGauge,
    /// Todos by status.
    pub items: IntGaugeVec,
    pub signups: IntCounter,
    /// Logins by result.
    pub logins: IntCounterVec,
    /// Todos created by priority.
    pub items_created: IntCounterVec,
    /// Todos moved to `done`.
    pub items_completed: IntCounter,
    /// Open websockets.
    pub ws_connections: IntGauge,
    /// Websocket messages by direction (`in`, `out`).
    pub ws_messages: IntCounterVec,
}

impl BusinessMetrics {
    /// Creates and registers every metric, with all label values present from the start so
    /// dashboards and rate() see zeros rather than gaps.
    ///
    /// # Errors
    /// When a name is taken in `registry`.
    pub fn register(registry: &Registry) -> Result<Self, obs_core::prometheus::Error> {
        let m = BusinessMetrics {
            users: IntGauge::new(TODO_USERS, "Registered users.")?,
            sessions_active: IntGauge::new(TODO_SESSIONS_ACTIVE, "Sessions not yet expired.")?,
            items: IntGaugeVec::new(Opts::new(TODO_ITEMS, "Todo items by status."), &["status"])?,
            signups: IntCounter::new(TODO_SIGNUPS, "Accounts created.")?,
            logins: IntCounterVec::new(
                Opts::new(TODO_LOGINS, "Login attempts by result."),
                &["result"],
            )?,
            items_created: IntCounterVec::new(
                Opts::new(TODO_ITEMS_CREATED, "Todo items created by priority."),
                &["priority"],
            )?,
            items_completed: IntCounter::new(TODO_ITEMS_COMPLETED, "Todo items completed.")?,
            ws_connections: IntGauge::new(TODO_WS_CONNECTIONS, "Open websocket connections.")?,
            ws_messages: IntCounterVec::new(
                Opts::new(TODO_WS_MESSAGES, "Websocket messages by direction."),
                &["direction"],
            )?,
        };
        registry.register(Box::new(m.users.clone()))?;
        registry.register(Box::new(m.sessions_active.clone()))?;
        registry.register(Box::new(m.items.clone()))?;
        registry.register(Box::new(m.signups.clone()))?;
        registry.register(Box::new(m.logins.clone()))?;
        registry.register(Box::new(m.items_created.clone()))?;
        registry.register(Box::new(m.items_completed.clone()))?;
        registry.register(Box::new(m.ws_connections.clone()))?;
        registry.register(Box::new(m.ws_messages.clone()))?;
        for s in STATUSES {
            m.items.with_label_values(&[s]);
        }
        for r in LOGIN_RESULTS {
            m.logins.with_label_values(&[r]);
        }
        for p in PRIORITIES {
            m.items_created.with_label_values(&[p]);
        }
        for d in ["in", "out"] {
            m.ws_messages.with_label_values(&[d]);
        }
        Ok(m)
    }
}

/// Keeps `todo_ws_connections` raised while a socket is open.
#[derive(Debug)]
pub struct WsConnectionGuard(IntGauge);

impl WsConnectionGuard {
    /// Counts one more open socket until dropped.
    pub fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        WsConnectionGuard(gauge.clone())
    }
}

impl Drop for WsConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Refreshes the gauges from the database every `interval`, off the request path.
pub async fn refresh_loop(state: AppState, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = refresh(&state).await {
            tracing::warn!(%error, "refreshing business metrics failed");
        }
    }
}

/// One refresh of the gauges.
///
/// # Errors
/// When the database or Redis fails.
pub async fn refresh(state: &AppState) -> Result<(), crate::error::ApiError> {
    let m = &state.business;
    m.users.set(store::user_count(&state.db).await?);
    m.sessions_active.set(state.sessions.live_count().await?);
    let counts = store::todo_counts(&state.db).await?;
    for status in STATUSES {
        let n = counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        m.items.with_label_values(&[status]).set(n);
    }
    Ok(())
}
