#!/usr/bin/env bash
# p99 latency of the example with its exporters pointed at closed ports ("down") against live
# receivers ("live"), alternating, in one sitting. See BASELINE.md, "Exporters down".
#
#   cargo build --release -p todo-backend
#   cargo build --release -p obs-benches --example receivers
#   benches/exporters-down.sh [rounds] [seconds]
#
# Every run: a fresh SQLite data dir, the example on 127.0.0.1:18080 with
# OTEL_EXPORTER_OTLP_ENDPOINT (gRPC) and LOKI_URL set, CHAOS_ERROR_RATE=0.1 so one request in
# ten logs two warning lines (Loki has something to push), logs to /dev/null, 5 s of warm-up,
# then `wrk -t1 -c8 -d${seconds}s --latency` on GET /api/auth/me (a 401 without a session: the
# server span and the layer, no database). "live" runs start the receivers of
# `benches/examples/receivers.rs` first; "down" runs point at ports nobody listens on.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-20}
bin=target/release/todo-backend
receivers=target/release/examples/receivers
addr=127.0.0.1:18080
live_otlp=127.0.0.1:14317 live_loki=127.0.0.1:13100
down_otlp=127.0.0.1:14319 down_loki=127.0.0.1:13109
out=${OUT:-target/exporters-down}
mkdir -p "$out"

wait_up() {
    for _ in $(seq 100); do
        curl -sf "http://$addr/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "the example did not come up" >&2
    return 1
}

run() { # variant round
    local variant=$1 round=$2 otlp loki rpid=""
    if [ "$variant" = live ]; then
        otlp=$live_otlp loki=$live_loki
        "$receivers" "$otlp" "$loki" >"$out/receivers-$round.log" 2>&1 &
        rpid=$!
        sleep 0.5
    else
        otlp=$down_otlp loki=$down_loki
        if ss -ltn | grep -qE "($otlp|$loki)\b"; then
            echo "a 'down' port is open" >&2
            return 1
        fi
    fi
    local data
    data=$(mktemp -d)
    LISTEN_ADDR=$addr DATA_DIR=$data OTEL_EXPORTER_OTLP_ENDPOINT="http://$otlp" \
        LOKI_URL="http://$loki" CHAOS_ERROR_RATE=0.1 RUST_LOG=info \
        "$bin" >/dev/null 2>"$out/example-$variant-$round.err" &
    local pid=$!
    wait_up
    wrk -t1 -c8 -d5s "http://$addr/api/auth/me" >/dev/null
    local load_before
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    wrk -t1 -c8 -d"${seconds}s" --latency "http://$addr/api/auth/me" >"$out/wrk-$variant-$round.txt"
    local p99 rps
    p99=$(awk '$1 == "99%" { print $2 }' "$out/wrk-$variant-$round.txt")
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$out/wrk-$variant-$round.txt")
    kill -TERM "$pid"
    wait "$pid" || true
    if [ -n "$rpid" ]; then
        kill -TERM "$rpid"
        wait "$rpid" || true
        tail -n 1 "$out/receivers-$round.log" >&2
    fi
    rm -rf "$data"
    echo "$round $variant p99=$p99 rps=$rps load=$load_before->$(cut -d' ' -f1 /proc/loadavg)"
}

for round in $(seq "$rounds"); do
    # Alternate which variant goes first, so a trend in the machine's load hits both alike.
    if [ $((round % 2)) -eq 1 ]; then order="live down"; else order="down live"; fi
    for variant in $order; do
        run "$variant" "$round"
    done
done | tee "$out/summary.txt"
