#!/usr/bin/env bash
# Read auditing's cost, one command: two fresh `trailmark init` servers, one
# with every read journaled (the default) and one with `audit-reads = false`,
# each holding 200 change records, read alternately by `ab` (8 keep-alive
# clients, `GET /v1/changes?entity-type=book&limit=10`, 5 s per turn) for
# ROUNDS rounds (default 3); prints each turn and the ratio on/off.
#
#   scripts/bench-access.sh target/release/trailmark 18930 [ROUNDS]
#
# BIN must carry the standard plugins (`cargo xtask serve` builds it so), or
# set WASM=dir holding trailmark_plugin_*.wasm. Needs `ab` (apache2-utils).
set -euo pipefail
BIN=$(realpath "$1"); PORT=$2; ROUNDS=${3:-3}
D=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$D"' EXIT
TOKEN_OUT=$("$BIN" auth new-token --name bench --scope query --scope put)
TOKEN=$(printf '%s\n' "$TOKEN_OUT" | awk 'NR == 1 { print $NF }')
ENTRY=$(printf '%s\n' "$TOKEN_OUT" | sed -n '/^\[\[auth.tokens\]\]/,$p')
for side in on off; do
    port=$([ "$side" = on ] && echo "$PORT" || echo $((PORT + 1)))
    "$BIN" init "$D/$side" >/dev/null
    if [ -n "${WASM:-}" ]; then
        for p in archive alert metadata log; do
            cp "$WASM/trailmark_plugin_$p.wasm" "$D/$side/plugins/$p.wasm"
        done
    fi
    printf '%s\n' "$ENTRY" >>"$D/$side/trailmark.toml"
    if [ "$side" = off ]; then
        sed -i 's/^\[server\]$/[server]\naudit-reads = false/' "$D/$side/trailmark.toml"
    fi
    (cd "$D/$side" && NO_COLOR=1 RUST_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$port" \
        >serve.out 2>serve.err) &
    PIDS+=($!)
done
for port in "$PORT" $((PORT + 1)); do
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
        sleep 0.2
    done
    for n in $(seq 1 20); do
        body=$(for i in $(seq 1 10); do
            printf '{"source":"com.example.books","detail-type":"Object State Change","detail":{"entity-type":"book","entity-id":"%s-%s","operation":"insert","ts":"2026-12-06T10:00:00Z","author":"alice","data":{"title":"Rust"}}}\n' "$n" "$i"
        done | paste -sd, -)
        curl -sS --fail-with-body -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
            -X POST "http://127.0.0.1:$port/v1/events" -d "[$body]"
    done
    for _ in $(seq 1 300); do
        n=$(curl -sf -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$port/v1/changes?entity-type=book&limit=10" | grep -o '"event-id"' | wc -l)
        [ "$n" -eq 10 ] && break
        sleep 0.2
    done
done
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A total
for _ in $(seq 1 "$ROUNDS"); do
    for side in on off; do
        port=$([ "$side" = on ] && echo "$PORT" || echo $((PORT + 1)))
        rate=$(ab -k -c 8 -t 5 -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$port/v1/changes?entity-type=book&limit=10" 2>/dev/null |
            awk '/Requests per second/ { print $4 }')
        echo "auditing $side: $rate req/s"
        total[$side]=$(awk -v a="${total[$side]:-0}" -v b="$rate" 'BEGIN { print a + b }')
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v on="${total[on]}" -v off="${total[off]}" -v r="$ROUNDS" \
    'BEGIN { printf "mean on %.0f req/s, off %.0f req/s: on/off = %.3f\n", on / r, off / r, on / off }'
