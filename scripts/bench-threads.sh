#!/usr/bin/env bash
# Where a server's CPU goes, thread by thread: a fresh `trailmark init`
# directory served on PORT, loaded by `trailmark bench` at a fixed offered
# RATE for DURATION; then each thread's CPU time over the load (from
# /proc/PID/task/*/stat, threads of one name summed), per accepted event.
# Two runs side by side at the same rate (two ports, `&`, `wait`) compare
# two configurations thread by thread, as BENCHMARKS.md does for issue 18.
#
#   scripts/bench-threads.sh target/release/trailmark 18480 3000 60s
#   CONFIG=$'[encryption]\nenabled = true' scripts/bench-threads.sh BIN 18481 3000 60s
#
# CONFIG='toml lines' are appended to the server's trailmark.toml. BIN must
# carry the standard plugins (as for scripts/bench-e2e.sh).
set -euo pipefail
BIN=$(realpath "$1"); PORT=$2; RATE=$3; DURATION=$4
D=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$D"' EXIT
"$BIN" init "$D/srv" >/dev/null
cd "$D/srv"
if [ -n "${CONFIG:-}" ]; then
    printf '%s\n' "$CONFIG" >>trailmark.toml
fi
NO_COLOR=1 RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" >serve.out 2>serve.err &
PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    sleep 0.2
done
# Each thread name and its CPU ticks so far, threads of one name summed.
ticks() {
    for task in /proc/"$PID"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$task/comm")" "$(awk '{print $14 + $15}' "$task/stat")"
    done | awk '{t[$1] += $2} END {for (n in t) print n, t[n]}' | sort
}
ticks >before
"$BIN" bench --server "http://127.0.0.1:$PORT" --data data --rate "$RATE" --duration "$DURATION" >bench.out 2>&1
ticks >after
ACCEPTED=$(sed -n 's/^accepted *\([0-9]*\).*/\1/p' bench.out)
grep -E '^(accepted|delivered)' bench.out
join -a1 -a2 -e0 -o 0,1.2,2.2 before after |
    awk -v n="$ACCEPTED" -v hz="$(getconf CLK_TCK)" '
        { us = ($3 - $2) / hz * 1e6 / n; total += us; printf "%-20s %8.1f µs/event\n", $1, us }
        END { printf "%-20s %8.1f µs/event\n", "total", total }' |
    sort -k2 -rn
