#!/usr/bin/env bash
# The peer benchmark suite in one command: installs what it needs (when apt-get can), builds every peer, runs
# bench/server/run.sh over the full peer set (warm-up, then ROUNDS interleaved rounds of wrk), and draws the charts.
#
#   bench/run-peers.sh                          # ROUNDS=3 DURATION=10s: ~25 min with every peer
#   ROUNDS=1 DURATION=2s bench/run-peers.sh     # smoke run: ~2 min
#   NO_PLOT=1 bench/run-peers.sh                # results only, leave docs/img and bench/results alone
#
# Everything run.sh reads works here too (SERVERS, TESTS, SCHED_NICE, BUILD=0, ...); see bench/server/README.md.
# Writes $OUT/{report.md,results.json,raw.tsv,meta.txt,run/} (default bench/server/build/results/<date>), then
# bench/peers/plot.py turns results.json into docs/img/peers-rps.png, docs/img/peers-cpu.png and
# bench/results/peers.{md,json}.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- install (only what is missing; works offline when everything is there) ---------------------------------------
APT_PKGS=(golang-go golang-github-valyala-fasthttp-dev golang-github-gin-gonic-gin-dev golang-github-labstack-echo-dev
          nginx-light h2o wrk curl gcc python3)
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    if ! { $SUDO apt-get install -y "${missing[@]}" >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y "${missing[@]}" >&2; }; }; then
        log "warning: could not install ${missing[*]}; the peers that need them are skipped"
    fi
fi
# Debian starts the h2o and nginx services on install; they would take CPU and ports during the run.
for svc in h2o nginx; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        log "note: the $svc service is running; stop it for a quiet machine (systemctl stop $svc)"
    fi
done
if [ -z "${NO_PLOT:-}" ] && ! python3 -c 'import matplotlib' 2>/dev/null; then
    log "installing matplotlib (pip)"
    python3 -m pip install -q matplotlib >&2 || log "warning: no matplotlib; charts skipped (tables still written)"
fi

# ---- run -----------------------------------------------------------------------------------------------------------
export SERVERS=${SERVERS:-fasthttp nethttp gin echo nginx h2o shockwave bolt hummingbird vapor nio}
export ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s}
if [ "$ROUNDS" = 1 ] && [ -z "${WARMUP:-}" ]; then export WARMUP=1s; fi   # the smoke run stays short
export OUT=${OUT:-$ROOT/bench/server/build/results/peers-$(date +%Y%m%d-%H%M%S)}
log "peers: $SERVERS; ROUNDS=$ROUNDS DURATION=$DURATION; results in $OUT"
"$ROOT/bench/server/run.sh" > /dev/null
log "report: $OUT/report.md"
log "json:   $OUT/results.json"

if [ -z "${NO_PLOT:-}" ]; then
    python3 "$ROOT/bench/peers/plot.py" "$OUT/results.json" --cmd "${PEERS_CMD:-ROUNDS=$ROUNDS DURATION=$DURATION bench/run-peers.sh}"
fi
