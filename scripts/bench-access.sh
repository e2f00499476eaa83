#!/usr/bin/env bash
# Read auditing's cost, one command: two fresh `trailmark init` servers, one
# with every read journaled (the default) and one with `audit-reads = false`,
# each holding 200 change records, read alternately by `ab` (8 keep-alive
# clients, `GET /v1/changes?entity-type=book&limit=10`, 5 s per turn) for
# ROUNDS rounds (default 3); prints each turn, the ratio on/off, and the
# server's CPU time per request on each side (from /proc/PID/stat: less
# sensitive to a busy machine than the rate).
#
#   scripts/bench-access.sh target/release/trailmark 18930 [ROUNDS]
#
# BIN must carry the standard plugins (`cargo xtask serve` builds it so), or
# set WASM=dir holding trailmark_plugin_*.wasm. Needs `ab` (apache2-utils).
set -euo pipefail
BIN=$(realpath "$1"); PORT=$2; ROUNDS=${3:-3}
D=$(mktemp -d)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$D"' EXIT
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
# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A total cpu served
for _ in $(seq 1 "$ROUNDS"); do
    for side in on off; do
        port=$([ "$side" = on ] && echo "$PORT" || echo $((PORT + 1)))
        pid=${PIDS[$([ "$side" = on ] && echo 0 || echo 1)]}
        before=$(cpu_ticks "$pid")
        out=$(ab -k -c 8 -t 5 -H "Authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$port/v1/changes?entity-type=book&limit=10" 2>/dev/null)
        used=$(( $(cpu_ticks "$pid") - before ))
        rate=$(awk '/Requests per second/ { print $4 }' <<<"$out")
        done_=$(awk '/Complete requests/ { print $3 }' <<<"$out")
        echo "auditing $side: $rate req/s, server CPU $(awk -v t="$used" -v h="$TICK" -v n="$done_" 'BEGIN { printf "%.1f", t / h * 1e6 / n }') µs per request"
        total[$side]=$(awk -v a="${total[$side]:-0}" -v b="$rate" 'BEGIN { print a + b }')
        cpu[$side]=$(( ${cpu[$side]:-0} + used ))
        served[$side]=$(( ${served[$side]:-0} + done_ ))
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v on="${total[on]}" -v off="${total[off]}" -v r="$ROUNDS" \
    'BEGIN { printf "mean on %.0f req/s, off %.0f req/s: on/off = %.3f\n", on / r, off / r, on / off }'
awk -v con="${cpu[on]}" -v coff="${cpu[off]}" -v non="${served[on]}" -v noff="${served[off]}" -v h="$TICK" \
    'BEGIN { a = con / h * 1e6 / non; b = coff / h * 1e6 / noff;
             printf "server CPU per request: on %.1f µs, off %.1f µs: on/off = %.3f\n", a, b, a / b }'
