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

/// Callers choose command names (`redis::cmd("anything")`) and, through `EVAL`, error codes
/// in their scripts' replies. Neither becomes a label value: hostile names, scripts and
/// pipelines of them land in a handful of fixed series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_chosen_commands_and_scripts_add_no_series() {
    let Some((_client, conn)) = connect().await else {
        return;
    };
    let metrics = Metrics::new();
    let mut conn = InstrumentedConnection::new(conn, &metrics).unwrap();
    let mut hostile: Vec<String> = Vec::new();
    for i in 0..200 {
        hostile.push(format!("FROB{i}"));
        hostile.push(format!("user:{i}"));
        hostile.push(format!("gé{i}\n\u{7}"));
        hostile.push(format!("{}{i}", "X".repeat(300)));
    }
    hostile.push(String::new());
    for name in &hostile {
        let _ = redis::cmd(name)
            .arg(key("k"))
            .query_async::<redis::Value>(&mut conn)
            .await;
    }
    for chunk in hostile.chunks(50) {
        let mut pipe = redis::pipe();
        for name in chunk {
            pipe.cmd(name);
        }
        let _ = pipe.query_async::<redis::Value>(&mut conn).await;
    }
    for i in 0..200 {
        // Scripts choosing their own error codes, scripts that succeed, unknown digests.
        let _ = redis::cmd("EVAL")
            .arg(format!(
                "return redis.error_reply('CODE{i} chosen by the script')"
            ))
            .arg(0)
            .query_async::<redis::Value>(&mut conn)
            .await;
        let _ = redis::cmd("EVAL")
            .arg(format!("return {i}"))
            .arg(0)
            .query_async::<redis::Value>(&mut conn)
            .await;
        let _ = redis::cmd("EVALSHA")
            .arg(format!("{i:040x}"))
            .arg(0)
            .query_async::<redis::Value>(&mut conn)
            .await;
    }
    let text = metrics.encode().unwrap();
    let exposition = obs_testkit::Exposition::parse(&text).unwrap();
    let series: std::collections::BTreeSet<(String, String)> = exposition
        .series("db_client_operation_duration_seconds_count")
        .map(|s| {
            (
                s.label("db_operation_name").unwrap_or_default().to_owned(),
                s.label("error_type").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let operations: std::collections::BTreeSet<&str> =
        series.iter().map(|(op, _)| op.as_str()).collect();
    assert!(
        operations.is_subset(&["EVAL", "EVALSHA", "OTHER", "PIPELINE OTHER"].into()),
        "{series:?}"
    );
    assert!(series.len() <= 8, "{series:?}");
    // The script's own codes fold into `_OTHER`.
    assert!(
        series.contains(&("EVAL".to_owned(), "_OTHER".to_owned())),
        "{series:?}"
    );
    assert!(
        series.contains(&("EVALSHA".to_owned(), "NOSCRIPT".to_owned())),
        "{series:?}"
    );
    assert!(!text.contains("FROB") && !text.contains("CODE1") && !text.contains("user:"));
}
