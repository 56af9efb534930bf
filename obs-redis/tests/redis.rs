//! Commands, pipelines, transactions and failures against a real Redis.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use obs_core::Metrics;
use obs_redis::InstrumentedConnection;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

const URL: &str = "redis://127.0.0.1:6379/";

async fn connect() -> Option<(redis::Client, MultiplexedConnection)> {
    let client = redis::Client::open(URL).unwrap();
    match client.get_multiplexed_async_connection().await {
        Ok(conn) => Some((client, conn)),
        Err(e) => {
            obs_testkit::require(format!("Redis at {URL} is not reachable: {e}"));
            None
        }
    }
}

fn count(metrics: &Metrics, op: &str, error: &str) -> u64 {
    metrics
        .db_client()
        .unwrap()
        .operation_duration(obs_core::DbOperationLabels {
            system: "redis",
            operation: op,
            collection: "",
            error_type: error,
        })
        .get_sample_count()
}

fn key(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("obs-test:{}:{nanos}:{name}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_pipelines_and_errors_are_recorded() {
    let Some((_client, conn)) = connect().await else {
        return;
    };
    let metrics = Metrics::new();
    let mut conn = InstrumentedConnection::new(conn, &metrics).unwrap();
    let (k, counter, hash) = (key("k"), key("counter"), key("hash"));

    let _: () = conn.set_ex(&k, "v", 60).await.unwrap();
    let v: String = conn.get(&k).await.unwrap();
    assert_eq!(v, "v");
    let n: i64 = conn.incr(&counter, 1).await.unwrap();
    assert_eq!(n, 1);
    let _: () = conn.hset(&hash, "f", "x").await.unwrap();
    eprintln!(
        "{}",
        metrics
            .encode()
            .unwrap()
            .lines()
            .filter(|l| l.contains("_count"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(count(&metrics, "SETEX", ""), 1);
    assert_eq!(count(&metrics, "GET", ""), 1);
    // `AsyncCommands::incr` sends INCRBY.
    assert_eq!(count(&metrics, "INCRBY", ""), 1);
    assert_eq!(count(&metrics, "HSET", ""), 1);

    // A pipeline of one command kind, a mixed one, and a MULTI/EXEC transaction.
    let (a, b): (String, Option<String>) = redis::pipe()
        .get(&k)
        .get(key("missing"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((a.as_str(), b), ("v", None));
    let _: () = redis::pipe()
        .set(&k, "w")
        .ignore()
        .get(&k)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .incr(&counter, 1)
        .expire(&counter, 60)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(count(&metrics, "PIPELINE GET", ""), 1);
    assert_eq!(count(&metrics, "PIPELINE", ""), 1);
    assert_eq!(count(&metrics, "MULTI", ""), 1);
    // The commands inside were not recorded one by one.
    assert_eq!(count(&metrics, "GET", ""), 1);

    // WRONGTYPE: GET on a hash.
    let err = conn.get::<_, String>(&hash).await.unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    assert_eq!(count(&metrics, "GET", "WRONGTYPE"), 1);

    // An unknown command is `OTHER`, never its own name.
    let err = redis::cmd("FROBNICATE")
        .arg(&k)
        .query_async::<()>(&mut conn)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(count(&metrics, "OTHER", "ERR"), 1);
    let text = metrics.encode().unwrap();
    assert!(!text.contains("FROBNICATE") && !text.contains("obs-test:"));

    // Clones share the metric handles.
    let mut clone = conn.clone();
    let _: String = redis::cmd("PING").query_async(&mut clone).await.unwrap();
    assert_eq!(count(&metrics, "PING", ""), 1);

    let _: () = conn.del(&[&k, &counter, &hash]).await.unwrap();
    assert_eq!(count(&metrics, "DEL", ""), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_recorded() {
    // A port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_number_of_retries(0)
        .set_connection_timeout(Some(Duration::from_millis(500)));
    let manager = client.get_connection_manager_lazy(config).unwrap();
    let metrics = Metrics::new();
    let mut conn = InstrumentedConnection::builder(manager, &metrics)
        .connection_info(client.get_connection_info())
        .build()
        .unwrap();
    let err = conn.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(err.is_connection_refusal(), "{err:?}");
    let text = metrics.encode().unwrap();
    assert_eq!(count(&metrics, "GET", "ConnectionRefused"), 1, "{text}");
    assert_eq!(count(&metrics, "GET", "Io"), 0, "{text}");
    assert_eq!(count(&metrics, "GET", ""), 0, "{text}");
}
