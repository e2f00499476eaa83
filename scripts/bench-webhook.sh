#!/usr/bin/env bash
# Events per second through the `webhook` plugin to a loopback receiver,
# unbatched (one POST per event) and batched (one POST per plugin call, a
# JSON array), in one run, alternating ROUNDS times (default 2). One rule, no
# other plugins; the receiver is scripts/webhook-receiver.py. For each run:
# `trailmark bench` sends flat out for DURATION (servers on PORT, PORT+1, …;
# the receiver on PORT+50), then the script waits until the receiver has
# every accepted event and prints events/s from the first to the last
# arrival, with `trailmark bench`'s report (its own CPU among it) and the
# CPU seconds the server used.
# The load average is printed before and after. With PERF=DIR, each
# server is profiled while it is loaded (perf record -g, into DIR).
#
#   ROUNDS=2 scripts/bench-webhook.sh target/release/trailmark target/wasm32-wasip2/release/trailmark_plugin_webhook.wasm 18120 20s
set -euo pipefail
BIN=$(realpath "$1"); WASM=$(realpath "$2"); PORT=$3; DURATION=${4:-20s}
ROUNDS=${ROUNDS:-2}
HERE=$(dirname "$(realpath "$0")")
RPORT=$((PORT + 50))
TICKS=$(getconf CLK_TCK)
D=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"' EXIT
python3 "$HERE/webhook-receiver.py" "$RPORT" &
PIDS+=($!)
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$RPORT/count" >/dev/null && break
    sleep 0.1
done

run() { # MODE BATCH SERVER_PORT
    local dir="$D/$1"
    mkdir -p "$dir/rules/destinations" "$dir/plugins" "$dir/data"
    cp "$WASM" "$dir/plugins/webhook.wasm"
    printf 'name: recv\nurl: http://127.0.0.1:%s\nallow-http: true\nrate: 1000000\n' "$RPORT" \
        >"$dir/rules/destinations/recv.yaml"
    printf 'name: hook\npattern: {detail-type: ["Object State Change"]}\nplugin: webhook\ngrants: {http: [recv]}\nconfig: {destination: recv, batch: %s}\n' "$2" \
        >"$dir/rules/hook.yaml"
    curl -sf "http://127.0.0.1:$RPORT/reset" >/dev/null
    (cd "$dir" && NO_COLOR=1 RUST_LOG=warn exec "$BIN" serve --listen "127.0.0.1:$3" >serve.out 2>serve.err) &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$3/healthz" >/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.err" >&2; exit 1; }
        sleep 0.2
    done
    # PERF=DIR: profile each server while it is loaded (perf record -g).
    if [ -n "${PERF:-}" ]; then
        perf record -F 499 -g -p "$pid" -o "$PERF/$1-$3.perf.data" -- sleep "${DURATION%s}" \
            >/dev/null 2>&1 &
    fi
    local out accepted
    out=$("$BIN" bench --server "http://127.0.0.1:$3" --data "$dir/data" --duration "$DURATION" 2>&1 || true)
    accepted=$(echo "$out" | awk '/^accepted/ {print $2; exit}')
    # Wait (up to 10 min) until the receiver has every accepted event.
    python3 - "$RPORT" "$accepted" "$1" <<'PY'
import json, sys, time, urllib.request
port, accepted, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    c = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/count"))
    if c["events"] >= accepted:
        break
    time.sleep(0.2)
span = (c["last"] or 0) - (c["first"] or 0)
rate = c["events"] / span if span > 0 else 0
print(f"{mode}: {accepted} accepted, {c['events']} received in {c['requests']} requests "
      f"over {span:.1f} s: {rate:,.0f} events/s delivered")
PY
    echo "$out" | sed "s/^/  $1 bench: /"
    # The server's CPU over its life (utime + stime, fields 14 and 15).
    awk -v t="$TICKS" -v m="$1" '{printf "  %s server CPU: %.1f s user, %.1f s system\n", m, $14 / t, $15 / t}' \
        "/proc/$pid/stat"
    kill -TERM "$pid"; wait "$pid" || true
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    run unbatched false "$((PORT + 2 * round - 2))"
    run batched true "$((PORT + 2 * round - 1))"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
