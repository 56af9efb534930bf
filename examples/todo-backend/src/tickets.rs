//! Websocket tickets: a browser cannot put an `Authorization` header on a websocket, and a
//! session token in the URL ends up in proxy access logs. So the page first asks
//! `POST /api/ws/ticket` (with its bearer token) for a ticket, and opens
//! `/api/ws?ticket=...`. A ticket is random, lives [`TICKET_TTL`], works once, and names the
//! session it was issued for (stored as the session token's hash), so the socket can be closed
//! when that session ends. Only the ticket's hash is stored.
//!
//! In Redis a ticket is `wsticket:{hash}` with an expiry, redeemed with `GETDEL`, so any
//! instance can redeem it. In memory at most [`MAX_LOCAL_TICKETS`] are outstanding; expired
//! ones are dropped oldest first (they expire in the order they were issued), so issuing and
//! redeeming are constant work.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use obs_redis::InstrumentedConnection;
use redis::aio::ConnectionManager;

use crate::auth::{new_token, token_hash};
use crate::error::ApiError;

/// How long a ticket can be redeemed.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// Tickets outstanding at once in memory; beyond that issuing answers 503.
pub const MAX_LOCAL_TICKETS: usize = 4096;

/// Where tickets live.
#[derive(Debug)]
pub enum Tickets {
    /// Shared by every instance.
    Redis(InstrumentedConnection<ConnectionManager>),
    /// Per instance.
    Local(Mutex<LocalTickets>),
}

/// The in-memory ticket store.
#[derive(Debug, Default)]
pub struct LocalTickets {
    live: HashMap<String, (String, Instant)>,
    order: VecDeque<(Instant, String)>,
}

impl LocalTickets {
    fn sweep(&mut self, now: Instant) {
        while let Some((expires, _)) = self.order.front() {
            if *expires > now {
                break;
            }
            if let Some((_, hash)) = self.order.pop_front() {
                self.live.remove(&hash);
            }
        }
    }
}

impl Tickets {
    /// An in-memory store.
    pub fn local() -> Self {
        Tickets::Local(Mutex::new(LocalTickets::default()))
    }

    /// A new ticket for the session whose token hashes to `session_hash`.
    ///
    /// # Errors
    /// The store fails, or (in memory) [`MAX_LOCAL_TICKETS`] are outstanding.
    pub async fn issue(&self, session_hash: &str) -> Result<String, ApiError> {
        let (ticket, hash) = new_token()?;
        match self {
            Tickets::Redis(conn) => {
                let mut conn = conn.clone();
                redis::cmd("SET")
                    .arg(format!("wsticket:{hash}"))
                    .arg(session_hash)
                    .arg("EX")
                    .arg(TICKET_TTL.as_secs())
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            Tickets::Local(store) => {
                let now = Instant::now();
                let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                store.sweep(now);
                if store.order.len() >= MAX_LOCAL_TICKETS {
                    return Err(ApiError::Busy(1));
                }
                let expires = now + TICKET_TTL;
                store
                    .live
                    .insert(hash.clone(), (session_hash.to_owned(), expires));
                store.order.push_back((expires, hash));
            }
        }
        Ok(ticket)
    }

    /// The session hash a ticket was issued for, once; `None` for an unknown, used or expired
    /// ticket.
    ///
    /// # Errors
    /// The store fails.
    pub async fn redeem(&self, ticket: &str) -> Result<Option<String>, ApiError> {
        // Tickets are 64 hex digits; anything else is not one (and is not hashed).
        if ticket.len() != 64 || !ticket.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let hash = token_hash(ticket);
        match self {
            Tickets::Redis(conn) => {
                let mut conn = conn.clone();
                Ok(redis::cmd("GETDEL")
                    .arg(format!("wsticket:{hash}"))
                    .query_async::<Option<String>>(&mut conn)
                    .await?)
            }
            Tickets::Local(store) => {
                let now = Instant::now();
                let mut store = store.lock().unwrap_or_else(|p| p.into_inner());
                store.sweep(now);
                Ok(store
                    .live
                    .remove(&hash)
                    .filter(|(_, expires)| *expires > now)
                    .map(|(session, _)| session))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ticket_works_once() {
        let tickets = Tickets::local();
        let ticket = tickets.issue("session-hash").await.unwrap();
        assert_eq!(ticket.len(), 64);
        assert_eq!(
            tickets.redeem(&ticket).await.unwrap().as_deref(),
            Some("session-hash")
        );
        assert_eq!(tickets.redeem(&ticket).await.unwrap(), None);
        assert_eq!(tickets.redeem("not-a-ticket").await.unwrap(), None);
    }

    #[tokio::test]
    async fn outstanding_tickets_are_capped() {
        let tickets = Tickets::local();
        for _ in 0..MAX_LOCAL_TICKETS {
            tickets.issue("s").await.unwrap();
        }
        assert!(matches!(tickets.issue("s").await, Err(ApiError::Busy(1))));
    }
}
