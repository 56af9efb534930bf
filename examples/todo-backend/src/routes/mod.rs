//! The HTTP API.

pub mod admin;
pub mod auth;
pub mod health;
pub mod page;
pub mod todos;
pub mod ws;
