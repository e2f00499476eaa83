#!/usr/bin/env bash
# End-to-end benchmark, one command: a fresh `trailmark init` directory (the
# default rules and the standard plugins on the embedded backends), served
# on PORT and loaded by `trailmark bench ARGS`; then the server's own CPU
# time. BIN must carry the standard plugins (built by `cargo xtask serve` or
# `cargo xtask image`).
#
#   scripts/bench-e2e.sh target/release/trailmark 18110 --duration 60s
#   scripts/bench-e2e.sh target/release/trailmark 18110 --duration 60s --rate 10000
#
# LOADGEN=other/trailmark runs that binary's `bench` instead (to compare two
# servers under the same load generator). ENABLE=name,name enables those
# default rules that ship disabled (e.g. ENABLE=mass-deletes, a correlation);
# DISABLE=name,name disables default rules (e.g. DISABLE=lake, the data lake).
# CONFIG='toml lines' are appended to the server's trailmark.toml (e.g.
# CONFIG=$'[encryption]\nenabled = true' to measure encryption at rest).
# EXPORTER_NICE=N sets the lake exporter thread's nice value once the server
# is up (it starts at the server's + 10; EXPORTER_NICE=0 measures it at the
# server's priority). The load generator's CPU time is printed too, and the
# server's CPU per accepted event thread by thread (threads of one name
# summed): two runs side by side at one `--rate` compare two configurations
# thread by thread. PERF=FILE records a `perf record -g` profile of the whole
# server (every thread) into FILE while the load runs.
set -euo pipefail
BIN=$(realpath "$1"); PORT=$2; shift 2
LOADGEN=$(realpath "${LOADGEN:-$BIN}")
ENABLE=${ENABLE:-}
DISABLE=${DISABLE:-}
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
"$BIN" init "$D/srv" >/dev/null
cd "$D/srv"
if [ -n "${CONFIG:-}" ]; then
    printf '%s\n' "$CONFIG" >>trailmark.toml
fi
for rule in ${ENABLE//,/ }; do
    sed -i 's/^enabled: false$/enabled: true/' "rules/$rule.yaml"
done
for rule in ${DISABLE//,/ }; do
    echo "enabled: false" >> "rules/$rule.yaml"
done
NO_COLOR=1 RUST_LOG=warn "$BIN" serve --listen "127.0.0.1:$PORT" >serve.out 2>serve.err &
PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    sleep 0.2
done
if [ -n "${EXPORTER_NICE:-}" ]; then
    for task in /proc/"$PID"/task/*; do
        if [ "$(cat "$task/comm")" = lake-export ]; then
            renice -n "$EXPORTER_NICE" -p "${task##*/}" >/dev/null
        fi
    done
fi
TICKS=$(getconf CLK_TCK)
# Each thread name and its CPU ticks so far, threads of one name summed.
thread_ticks() {
    for task in /proc/"$PID"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$task/comm")" "$(awk '{print $14 + $15}' "$task/stat")"
    done | awk '{t[$1] += $2} END {for (n in t) print n, t[n]}' | sort
}
thread_ticks >threads.before
T0=$(awk '{print $14+$15}' "/proc/$PID/stat")
F0=$(awk '{print $10}' "/proc/$PID/stat")
if [ -n "${PERF:-}" ]; then
    perf record -F "${PERF_FREQ:-499}" -g -p "$PID" -o "$PERF" 2>/dev/null &
    PERF_PID=$!
fi
TIMEFORMAT='load generator CPU  %U s user + %S s system (%R s wall)'
time "$LOADGEN" bench --server "http://127.0.0.1:$PORT" --data data "$@" | tee bench.out || true
T1=$(awk '{print $14+$15}' "/proc/$PID/stat")
F1=$(awk '{print $10}' "/proc/$PID/stat")
thread_ticks >threads.after
if [ -n "${PERF:-}" ]; then
    kill -INT "$PERF_PID" && wait "$PERF_PID" || true
fi
awk -v t="$((T1 - T0))" -v hz="$TICKS" 'BEGIN { printf "server CPU          %.2f s\n", t / hz }'
echo "server page faults  $((F1 - F0)) (minor, while loaded)"
ACCEPTED=$(sed -n 's/^accepted *\([0-9]*\).*/\1/p' bench.out)
if [ "${ACCEPTED:-0}" -gt 0 ]; then
    join -a1 -a2 -e0 -o 0,1.2,2.2 threads.before threads.after |
        awk -v n="$ACCEPTED" -v hz="$TICKS" '$3 > $2 {
            printf "thread CPU          %-16s %7.1f µs/event\n", $1, ($3 - $2) / hz * 1e6 / n }'
fi
if ! grep -q '^enabled: false' rules/lake.yaml 2>/dev/null; then
    # What the lake exporter still had to do when the load stopped.
    TIMEFORMAT='lake flush after    %R s'
    time "$BIN" lake flush --server "http://127.0.0.1:$PORT"
    # The load's whole cost: a run that closed a lake file while loaded
    # and one whose file waited for this flush did the same work.
    T2=$(awk '{print $14+$15}' "/proc/$PID/stat")
    awk -v t="$((T2 - T0))" -v hz="$TICKS" -v n="${ACCEPTED:-0}" 'BEGIN {
        printf "server CPU + flush  %.2f s", t / hz
        if (n > 0) printf " (%.1f µs/event)", t / hz * 1e6 / n
        printf "\n" }'
fi
kill -TERM "$PID"
wait "$PID" || true
