//! Bounded `error_type` values for redis errors.

use obs_core::names::ERROR_TYPE_OTHER;
use redis::{ErrorKind, RedisError, ServerErrorKind};

/// Error codes Redis servers send as the first word of an error reply.
const SERVER_CODES: &[&str] = &[
    "ASK",
    "BUSY",
    "BUSYGROUP",
    "BUSYKEY",
    "CLUSTERDOWN",
    "CROSSSLOT",
    "ERR",
    "EXECABORT",
    "LOADING",
    "MASTERDOWN",
    "MISCONF",
    "MOVED",
    "NOAUTH",
    "NOGROUP",
    "NOPERM",
    "NOPROTO",
    "NOREPLICAS",
    "NOSCRIPT",
    "NOTBUSY",
    "NOSUB",
    "OOM",
    "READONLY",
    "TRYAGAIN",
    "UNBLOCKED",
    "UNKILLABLE",
    "WRONGPASS",
    "WRONGTYPE",
];

/// The `error_type` of `err`: the server's error code (`WRONGTYPE`, `ERR`, …) for error
/// replies, `ConnectionRefused`/`Timeout`/`ConnectionDropped` for those I/O failures, else the
/// client error kind (`Io`, `Parse`, `UnexpectedReturnType`, …). Never the message.
pub(crate) fn error_type(err: &RedisError) -> &'static str {
    if err.is_connection_refusal() {
        return "ConnectionRefused";
    }
    if err.is_timeout() {
        return "Timeout";
    }
    if err.is_connection_dropped() {
        return "ConnectionDropped";
    }
    match err.kind() {
        ErrorKind::Server(kind) => server_kind(kind, err.code()),
        ErrorKind::Extension => err
            .code()
            .and_then(|code| SERVER_CODES.iter().copied().find(|c| *c == code))
            .unwrap_or(ERROR_TYPE_OTHER),
        ErrorKind::Parse => "Parse",
        ErrorKind::AuthenticationFailed => "AuthenticationFailed",
        ErrorKind::UnexpectedReturnType => "UnexpectedReturnType",
        ErrorKind::InvalidClientConfig => "InvalidClientConfig",
        ErrorKind::Io => "Io",
        ErrorKind::Client => "Client",
        ErrorKind::ClusterConnectionNotFound => "ClusterConnectionNotFound",
        ErrorKind::RESP3NotSupported => "RESP3NotSupported",
        _ => ERROR_TYPE_OTHER,
    }
}

/// The `error_type` of an error reply that arrived as a value (`Value::ServerError`): what
/// `query_async` turns into an `Err` after the connection has returned.
pub(crate) fn server_error_type(err: &redis::ServerError) -> &'static str {
    let code = err.code();
    SERVER_CODES
        .iter()
        .copied()
        .find(|c| *c == code)
        .unwrap_or(ERROR_TYPE_OTHER)
}

fn server_kind(kind: ServerErrorKind, code: Option<&str>) -> &'static str {
    code.and_then(|code| SERVER_CODES.iter().copied().find(|c| *c == code))
        .unwrap_or(match kind {
            ServerErrorKind::ResponseError => "ERR",
            _ => ERROR_TYPE_OTHER,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_codes_are_kept_and_others_bounded() {
        let wrongtype = redis::make_extension_error("WRONGTYPE".into(), Some("x".into()));
        assert_eq!(error_type(&wrongtype), "WRONGTYPE");
        let odd = redis::make_extension_error("user:42".into(), None);
        assert_eq!(error_type(&odd), ERROR_TYPE_OTHER);
        let io = RedisError::from(std::io::Error::other("boom"));
        assert_eq!(error_type(&io), "Io");
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(error_type(&refused), "ConnectionRefused");
        let client = RedisError::from((ErrorKind::Client, "bad"));
        assert_eq!(error_type(&client), "Client");
    }
}
