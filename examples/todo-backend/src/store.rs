//! Every SQL statement of the service.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Db, on_db};

/// A user as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, serde::Deserialize)]
pub struct User {
    pub id: i64,
    /// Email, unique.
    pub email: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A user with the password hash, for login only.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    /// The argon2id PHC string.
    pub password_hash: String,
}

/// A todo item.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Todo {
    pub id: i64,
    pub title: String,
    pub description: String,
    /// `todo`, `in_progress` or `done`.
    pub status: String,
    /// `low`, `medium` or `high`.
    pub priority: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it became `done`.
    pub completed_at: Option<DateTime<Utc>>,
}

/// Fields a PATCH may change; `None` keeps the value.
#[derive(Debug, Default)]
pub struct TodoChange {
    pub title: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
}

/// The columns of [`Todo`], spliced into literal SQL with `concat!` so every statement stays a
/// `&'static str` (sqlx refuses unaudited dynamic SQL).
macro_rules! todo_columns {
    () => {
        "id, title, description, status, priority, created_at, updated_at, completed_at"
    };
}

/// Creates a user; a taken email is a unique violation.
pub async fn create_user(
    db: &Db,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<User, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, User>(
        "INSERT INTO users (email, name, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, email, name, created_at",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(Utc::now())
    .fetch_one(pool)
    .await)
}

/// The credentials of the account with `email`.
pub async fn credentials(db: &Db, email: &str) -> Result<Option<Credentials>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, Credentials>(
        "SELECT id, password_hash FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(pool)
    .await)
}

/// The user with `id`.
pub async fn user(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, User>(
        "SELECT id, email, name, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await)
}

/// Stores a session (when Redis is absent).
pub async fn insert_session(
    db: &Db,
    token_hash: &str,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(Utc::now())
    .bind(expires_at)
    .execute(pool)
    .await
    .map(drop))
}

/// The user of an unexpired session.
pub async fn session_user(db: &Db, token_hash: &str) -> Result<Option<i64>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(
        "SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(Utc::now())
    .fetch_optional(pool)
    .await)
}

/// Ends a session.
pub async fn delete_session(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    on_db!(db, pool => sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(drop))
}

/// Removes expired sessions and counts the live ones.
pub async fn live_sessions(db: &Db) -> Result<i64, sqlx::Error> {
    let now = Utc::now();
    on_db!(db, pool => {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?;
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
            .fetch_one(pool)
            .await
    })
}

/// Number of users.
pub async fn user_count(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM users")
        .fetch_one(pool)
        .await)
}

/// Number of todos per status.
pub async fn todo_counts(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(
        "SELECT status, COUNT(*) FROM todos GROUP BY status",
    )
    .fetch_all(pool)
    .await)
}

/// A page of the user's todos, newest first, optionally of one status; and the total.
pub async fn list_todos(
    db: &Db,
    user_id: i64,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Todo>, i64), sqlx::Error> {
    let list = concat!(
        "SELECT ",
        todo_columns!(),
        " FROM todos WHERE user_id = $1 AND ($2 IS NULL OR status = $2) \
         ORDER BY id DESC LIMIT $3 OFFSET $4"
    );
    on_db!(db, pool => {
        let items = sqlx::query_as::<_, Todo>(list)
            .bind(user_id)
            .bind(status)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
        let total = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM todos WHERE user_id = $1 AND ($2 IS NULL OR status = $2)",
        )
        .bind(user_id)
        .bind(status)
        .fetch_one(pool)
        .await?;
        Ok((items, total))
    })
}

/// Creates a todo.
pub async fn create_todo(
    db: &Db,
    user_id: i64,
    title: &str,
    description: &str,
    status: &str,
    priority: &str,
) -> Result<Todo, sqlx::Error> {
    let now = Utc::now();
    let completed = (status == "done").then_some(now);
    let sql = concat!(
        "INSERT INTO todos (user_id, title, description, status, priority, created_at, \
         updated_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING ",
        todo_columns!()
    );
    on_db!(db, pool => sqlx::query_as::<_, Todo>(sql)
        .bind(user_id)
        .bind(title)
        .bind(description)
        .bind(status)
        .bind(priority)
        .bind(now)
        .bind(completed)
        .fetch_one(pool)
        .await)
}

/// The user's todo `id`; others' todos do not exist for them.
pub async fn todo(db: &Db, user_id: i64, id: i64) -> Result<Option<Todo>, sqlx::Error> {
    let sql = concat!(
        "SELECT ",
        todo_columns!(),
        " FROM todos WHERE id = $1 AND user_id = $2"
    );
    on_db!(db, pool => sqlx::query_as::<_, Todo>(sql)
        .bind(id)
        .bind(user_id)
        .fetch_optional(pool)
        .await)
}

/// Applies `change` to the user's todo `id` in one transaction; returns the old and new row.
pub async fn update_todo(
    db: &Db,
    user_id: i64,
    id: i64,
    change: &TodoChange,
) -> Result<Option<(Todo, Todo)>, sqlx::Error> {
    let select = concat!(
        "SELECT ",
        todo_columns!(),
        " FROM todos WHERE id = $1 AND user_id = $2"
    );
    let update = concat!(
        "UPDATE todos SET title = $1, description = $2, status = $3, priority = $4, \
         updated_at = $5, completed_at = $6 WHERE id = $7 AND user_id = $8 RETURNING ",
        todo_columns!()
    );
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let Some(old) = sqlx::query_as::<_, Todo>(select)
            .bind(id)
            .bind(user_id)
            .fetch_optional(&mut tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let now = Utc::now();
        let status = change.status.clone().unwrap_or_else(|| old.status.clone());
        let completed_at = match (old.status.as_str(), status.as_str()) {
            (_, "done") if old.status != "done" => Some(now),
            (_, "done") => old.completed_at,
            _ => None,
        };
        let new = sqlx::query_as::<_, Todo>(update)
            .bind(change.title.as_deref().unwrap_or(&old.title))
            .bind(change.description.as_deref().unwrap_or(&old.description))
            .bind(&status)
            .bind(change.priority.as_deref().unwrap_or(&old.priority))
            .bind(now)
            .bind(completed_at)
            .bind(id)
            .bind(user_id)
            .fetch_one(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some((old, new)))
    })
}

/// Deletes the user's todo `id`; false when there was none.
pub async fn delete_todo(db: &Db, user_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    on_db!(db, pool => sqlx::query("DELETE FROM todos WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected() > 0))
}
