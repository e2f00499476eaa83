#!/usr/bin/env bash
# Two end-to-end benchmarks at the same time, side by side: A and B each a
# fresh server (`scripts/bench-e2e.sh`) with its own load generator, started
# together and loaded for the same span, so both live through the same
# machine: what a shared, noisy host does to one run it does to the other.
# The figure to quote is B/A taken in one run: the server CPU per accepted
# event (the cost of B's configuration or build against A's), and the rates.
# On a machine where both are CPU-bound the scheduler shares the cores
# between them, so the rates' ratio follows the costs' ratio.
#
#   B_CONFIG=$'[encryption]\nenabled = true' scripts/bench-pair.sh BIN 18470 --duration 30s
#   B_BIN=other/trailmark scripts/bench-pair.sh BIN 18470 --duration 30s
#
# A_CONFIG/B_CONFIG, A_ENABLE/B_ENABLE and A_DISABLE/B_DISABLE are
# bench-e2e.sh's CONFIG, ENABLE and DISABLE for each side; B_BIN is B's
# server binary (default BIN). A listens on PORT, B on PORT+1. The rest of
# the arguments go to both `trailmark bench`s. One line is printed per side,
# then the ratios; RAW=1 prints each side's whole output as well.
set -euo pipefail
BIN=$(realpath "$1"); PORT=$2; shift 2
B_BIN=$(realpath "${B_BIN:-$BIN}")
HERE=$(dirname "$(realpath "$0")")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

side() { # side NAME BIN PORT CONFIG ENABLE DISABLE ARGS...
    local name=$1 bin=$2 port=$3 config=$4 enable=$5 disable=$6
    shift 6
    CONFIG="$config" ENABLE="$enable" DISABLE="$disable" \
        "$HERE/bench-e2e.sh" "$bin" "$port" "$@" >"$OUT/$name" 2>&1
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
side a "$BIN" "$PORT" "${A_CONFIG:-}" "${A_ENABLE:-}" "${A_DISABLE:-}" "$@" &
A=$!
side b "$B_BIN" "$((PORT + 1))" "${B_CONFIG:-}" "${B_ENABLE:-}" "${B_DISABLE:-}" "$@" &
B=$!
wait "$A" "$B" || true

# accepted/s delivered/s server-CPU-µs-per-accepted-event load-generator-CPU
# server-CPU-µs-per-event-with-the-lake-flush ("-" when the lake is off)
figures() {
    awk '
        /^accepted / { n = $2; sub(/.*\(/, ""); acc = $1 }
        /^delivered / { del = $2 }
        /^server CPU  / { cpu = $3 }
        /^server CPU \+ flush / { flushed = $5 }
        /^load generator CPU / { gen = $4 + $8 }
        END {
            if (n == 0 || acc == "") { print "- - - - -"; exit }
            printf "%s %s %.1f %.1f %s\n", acc, (del == "" ? "-" : del), cpu * 1e6 / n, gen,
                (flushed == "" ? "-" : sprintf("%.1f", flushed * 1e6 / n))
        }' "$1"
}
read -r aa ad ac ag af < <(figures "$OUT/a")
read -r ba bd bc bg bf < <(figures "$OUT/b")
if [ -n "${RAW:-}" ]; then
    for s in a b; do echo "--- $s"; cat "$OUT/$s"; done
fi
echo "load average before: $LOAD"
row() { printf '%-2s %12s %13s %22s %18s %24s\n' "$@"; }
row side accepted/s delivered/s 'server CPU µs/event' 'load gen CPU s' 'with lake flush µs/event'
row A "$aa" "$ad" "$ac" "$ag" "$af"
row B "$ba" "$bd" "$bc" "$bg" "$bf"
awk -v aa="$aa" -v ad="$ad" -v ac="$ac" -v af="$af" -v ba="$ba" -v bd="$bd" -v bc="$bc" -v bf="$bf" 'BEGIN {
    printf "B/A accepted %s  delivered %s  CPU per event A/B %s  with the lake flush %s\n",
        (aa + 0 > 0 ? sprintf("%.3f", ba / aa) : "-"),
        (ad + 0 > 0 && bd + 0 > 0 ? sprintf("%.3f", bd / ad) : "-"),
        (bc + 0 > 0 ? sprintf("%.3f", ac / bc) : "-"),
        (af + 0 > 0 && bf + 0 > 0 ? sprintf("%.3f", af / bf) : "-")
}'
