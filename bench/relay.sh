#!/usr/bin/env bash
# bench/relay.sh: what the relay costs. The same eqbench workload runs
# direct (against an eqgate echo server) and relayed (against eqgate
# -handler relay in front of that same echo server), alternating
# direct/relayed in one run, ROUNDS times. Per run it prints throughput,
# p50/p99 echo latency and CPU per echoed message of each eqgate process:
# relayed, the relay process's CPU is the extra CPU the relay costs, and
# the echo server's should match its direct figure.
#
#   bench/relay.sh [eqbench flags]      (default: -sessions 20 -window 8 -size 200)
#
# Environment: ROUNDS (3), DURATION (5s), SHARDS (1: -shards of each
# eqgate), VARIANT (rs), RELAY_ARGS (extra flags for the relay), PORT
# (39601: the echo server; PORT+1 the relay).
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
SHARDS=${SHARDS:-1}
VARIANT=${VARIANT:-rs}
PORT=${PORT:-39601}
RELAY_ARGS=${RELAY_ARGS:-}
if [ $# -eq 0 ]; then
	set -- -sessions 20 -window 8 -size 200
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/eqgate" ./cmd/eqgate
go build -o "$tmp/eqbench" ./cmd/eqbench

echo_addr=127.0.0.1:$PORT
relay_addr=127.0.0.1:$((PORT + 1))
"$tmp/eqgate" -variant "$VARIANT" -listen "$echo_addr" -metrics= -shards "$SHARDS" 2>"$tmp/echo.log" &
echo_pid=$!
pids+=("$echo_pid")
# shellcheck disable=SC2086 # RELAY_ARGS is a list of flags
"$tmp/eqgate" -variant "$VARIANT" -handler relay -listen "$relay_addr" -backend "$echo_addr" \
	-metrics= -shards "$SHARDS" $RELAY_ARGS 2>"$tmp/relay.log" &
relay_pid=$!
pids+=("$relay_pid")
for log in "$tmp/echo.log" "$tmp/relay.log"; do
	for _ in $(seq 100); do
		grep -q 'msg=ready' "$log" && break
		sleep 0.05
	done
	grep -q 'msg=ready' "$log" || { cat "$log" >&2; exit 1; }
done

# ticks of process $1 (utime + stime, /proc/PID/stat fields 14 and 15).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

printf '%-8s %5s %10s %9s %9s %12s %12s %5s\n' mode round msgs/s p50_us p99_us relay_ns/msg echo_ns/msg lost
for r in $(seq "$ROUNDS"); do
	for mode in direct relayed; do
		addr=$echo_addr
		[ "$mode" = relayed ] && addr=$relay_addr
		e0=$(ticks "$echo_pid")
		r0=$(ticks "$relay_pid")
		line=$("$tmp/eqbench" -q -variant "$VARIANT" -duration "$DURATION" "$@" "$addr")
		e1=$(ticks "$echo_pid")
		r1=$(ticks "$relay_pid")
		n=$(field echoed "$line")
		relay_ns=-
		if [ "$mode" = relayed ]; then
			relay_ns=$(((r1 - r0) * 1000000000 / hz / (n > 0 ? n : 1)))
		fi
		echo_ns=$(((e1 - e0) * 1000000000 / hz / (n > 0 ? n : 1)))
		printf '%-8s %5d %10.0f %9s %9s %12s %12s %5s\n' "$mode" "$r" "$(field msgs_per_s "$line")" \
			"$(field p50_us "$line")" "$(field p99_us "$line")" "$relay_ns" "$echo_ns" "$(field lost "$line")"
	done
done
