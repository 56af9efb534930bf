//! Bounded `error_type` values for sqlx errors.

use std::borrow::Cow;

use obs_core::names::{DB_SYSTEM_SQLITE, ERROR_TYPE_OTHER};
use sqlx::error::{DatabaseError, ErrorKind};

/// The `error_type` of `err`: the sqlx error variant (`RowNotFound`, `PoolTimedOut`, …); for
/// database errors the constraint kind (`unique_violation`, …), else the SQLSTATE class
/// (`42`, `40`, …) or, on SQLite, the primary result code (`1`, `5`, …).
///
/// Every value comes from a fixed set: never from the error message.
pub(crate) fn error_type(err: &sqlx::Error, system: &str) -> Cow<'static, str> {
    use sqlx::Error as E;
    Cow::Borrowed(match err {
        E::Configuration(_) => "Configuration",
        E::InvalidArgument(_) => "InvalidArgument",
        E::Database(db) => return database_error_type(db.as_ref(), system),
        E::Io(_) => "Io",
        E::Tls(_) => "Tls",
        E::Protocol(_) => "Protocol",
        E::RowNotFound => "RowNotFound",
        E::TypeNotFound { .. } => "TypeNotFound",
        E::ColumnIndexOutOfBounds { .. } => "ColumnIndexOutOfBounds",
        E::ColumnNotFound(_) => "ColumnNotFound",
        E::ColumnDecode { .. } => "ColumnDecode",
        E::Encode(_) => "Encode",
        E::Decode(_) => "Decode",
        E::AnyDriverError(_) => "AnyDriverError",
        E::PoolTimedOut => "PoolTimedOut",
        E::PoolClosed => "PoolClosed",
        E::WorkerCrashed => "WorkerCrashed",
        E::InvalidSavePointStatement => "InvalidSavePointStatement",
        E::BeginFailed => "BeginFailed",
        _ => ERROR_TYPE_OTHER,
    })
}

fn database_error_type(db: &dyn DatabaseError, system: &str) -> Cow<'static, str> {
    let kind = match db.kind() {
        ErrorKind::UniqueViolation => "unique_violation",
        ErrorKind::ForeignKeyViolation => "foreign_key_violation",
        ErrorKind::NotNullViolation => "not_null_violation",
        ErrorKind::CheckViolation => "check_violation",
        ErrorKind::ExclusionViolation => "exclusion_violation",
        _ => return code_class(db.code().as_deref(), system),
    };
    Cow::Borrowed(kind)
}

/// The class of a database error code, validated so only a bounded set of strings passes.
fn code_class(code: Option<&str>, system: &str) -> Cow<'static, str> {
    const FALLBACK: &str = "Database";
    let Some(code) = code else {
        return Cow::Borrowed(FALLBACK);
    };
    if system == DB_SYSTEM_SQLITE {
        // Extended result codes carry the primary code in their low byte.
        return match code.parse::<u32>() {
            Ok(extended) => Cow::Owned((extended & 0xff).to_string()),
            Err(_) => Cow::Borrowed(FALLBACK),
        };
    }
    let bytes = code.as_bytes();
    if bytes.len() == 5 && bytes.iter().all(u8::is_ascii_alphanumeric) {
        Cow::Owned(code[..2].to_ascii_uppercase())
    } else {
        Cow::Borrowed(FALLBACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_reduced_to_their_class() {
        assert_eq!(code_class(Some("42P01"), "postgresql"), "42");
        assert_eq!(code_class(Some("23000"), "mysql"), "23");
        assert_eq!(code_class(Some("2067"), "sqlite"), "19");
        assert_eq!(code_class(Some("1"), "sqlite"), "1");
        assert_eq!(code_class(Some("not a code"), "postgresql"), "Database");
        assert_eq!(code_class(None, "mysql"), "Database");
    }

    #[test]
    fn variants_have_fixed_names() {
        assert_eq!(
            error_type(&sqlx::Error::RowNotFound, "postgresql"),
            "RowNotFound"
        );
        assert_eq!(
            error_type(&sqlx::Error::PoolTimedOut, "postgresql"),
            "PoolTimedOut"
        );
        assert_eq!(
            error_type(&sqlx::Error::Protocol("free text".into()), "mysql"),
            "Protocol"
        );
    }
}
