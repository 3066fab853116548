#!/usr/bin/env bash
# Hostile input against a live bolt-hello on each backend (fuzz/live_hostile.py), SECONDS_EACH per backend.
#   bash fuzz/live_hostile.sh            # 20 s per backend
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRATCH=${SCRATCH:-$ROOT/.build-soak}
SECONDS_EACH=${SECONDS_EACH:-20}
PORT=${PORT:-18600}
(cd "$ROOT" && swift build -c release --product bolt-hello --scratch-path "$SCRATCH" >/dev/null)
status=0
for backend in uring epoll; do
    SHOCKWAVE_BACKEND=$backend "$SCRATCH/release/bolt-hello" --host 127.0.0.1 --port "$PORT" --loops 1 >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/plaintext" && break; sleep 0.1; done
    printf '%s: ' "$backend"
    python3 "$ROOT/fuzz/live_hostile.py" --port "$PORT" --pid "$pid" --seconds "$SECONDS_EACH" || status=1
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
exit $status
