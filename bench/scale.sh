#!/usr/bin/env bash
# Scale: HELD keep-alive connections held open while wrk loads bolt-hello on top, on each backend.
#
#   bench/scale.sh                       # 10,000 held connections, wrk -c64 for 10 s, io_uring then epoll
#   HELD=20000 DURATION=30 bench/scale.sh
#
# Per backend: start `bolt-hello --loops 1` (server on CPU 0, clients on CPU 1 when there are 2 CPUs) with a
# descriptor limit above HELD, then bench/scale.py: open HELD connections (each sends a request and reads its
# answer), report RSS per held connection, run wrk while every held connection sends a request per round and
# checks its answer, then close everything and check the server's descriptors are back to where they started.
# Exit status 0 when every request was answered and nothing was left open.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELD=${HELD:-10000}
DURATION=${DURATION:-10}
BACKENDS=${BACKENDS:-uring epoll}
PORT=${PORT:-18690}
SCRATCH=${SCRATCH:-$ROOT/.build-soak}
RESULTS=${RESULTS:-}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
command -v wrk >/dev/null || { log "wrk not found (apt-get install -y wrk)"; exit 2; }
# each process (server, clients) needs a descriptor per held connection, plus some
want=$((HELD + 1024)); hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge "$want" ] || { log "the descriptor limit's hard cap $hard is below $want"; exit 2; }
ulimit -n "$want"

log "build bolt-hello (release, --scratch-path $SCRATCH)"
(cd "$ROOT" && swift build -c release --product bolt-hello --scratch-path "$SCRATCH" >/dev/null)
BIN=$SCRATCH/release/bolt-hello

SERVER_CPU=(); CLIENT_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then SERVER_CPU=(taskset -c 0); CLIENT_CPU=(taskset -c 1); fi
fds() { ls "/proc/$1/fd" | wc -l; }

fail=0
for backend in $BACKENDS; do
    SHOCKWAVE_BACKEND=$backend "${SERVER_CPU[@]}" "$BIN" --host 127.0.0.1 --port "$PORT" --loops 1 > /tmp/scale-server.log 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/plaintext" && break; sleep 0.1; done
    sleep 0.5
    fd0=$(fds "$pid")
    log "$backend: $HELD held connections + wrk -c64 for ${DURATION} s (server pid $pid, $fd0 descriptors)"
    status=0
    "${CLIENT_CPU[@]}" python3 "$ROOT/bench/scale.py" --pid "$pid" --port "$PORT" --held "$HELD" --duration "$DURATION" \
        ${RESULTS:+--json "$RESULTS"} || status=$?
    sleep 1
    fd1=$(fds "$pid")
    log "$backend: descriptors $fd0 -> $fd1 after the clients closed"
    [ "$status" -eq 0 ] || fail=1
    [ "$fd1" -le "$fd0" ] || { log "$backend: descriptors not back to the baseline"; fail=1; }
    kill "$pid"; wait "$pid" || true
done
exit $fail
