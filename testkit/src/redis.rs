//! An emptied Redis database on the local server.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::require;

/// The local Redis the tests use.
pub const REDIS_ADDRESS: &str = "127.0.0.1:6379";

/// Empties Redis database `index` on [`REDIS_ADDRESS`] and returns its URL; `None`, reported
/// through [`require`] (a failure under `OBS_TEST_REQUIRE=1`), when Redis does not answer or
/// the connection fails while selecting and flushing it.
///
/// Each test takes an index of its own: Redis databases are shared by every process on the
/// machine, and the example caches profiles by user id, which restart at 1 in every test's
/// fresh SQL database.
///
/// # Panics
/// When Redis answers the `SELECT` or `FLUSHDB` with an error.
pub async fn fresh_redis_db(index: u8) -> Option<String> {
    let Ok(mut stream) = tokio::net::TcpStream::connect(REDIS_ADDRESS).await else {
        require(format!("Redis is not answering on {REDIS_ADDRESS}"));
        return None;
    };
    // Inline commands: the reply to both is "+OK\r\n".
    if let Err(e) = stream
        .write_all(format!("SELECT {index}\r\nFLUSHDB\r\n").as_bytes())
        .await
    {
        require(format!("cannot write to Redis on {REDIS_ADDRESS}: {e}"));
        return None;
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    while reply.windows(2).filter(|w| w == b"\r\n").count() < 2 {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) => {
                require(format!("cannot read from Redis on {REDIS_ADDRESS}: {e}"));
                return None;
            }
        };
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        reply,
        b"+OK\r\n+OK\r\n",
        "flushing Redis database {index}: {}",
        String::from_utf8_lossy(&reply)
    );
    Some(format!("redis://{REDIS_ADDRESS}/{index}"))
}
