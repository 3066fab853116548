#!/usr/bin/env bash
# Peer benchmark for the HTTP server: Shockwave next to Go fasthttp and nginx-light, on loopback, one core for the
# server and one for wrk. See README.md in this folder.
#
#   bench/server/run.sh                                  # build, then ROUNDS=3 x DURATION=10s
#   ROUNDS=1 DURATION=3s bench/server/run.sh             # quick check
#   SHOCKWAVE_CMD='/path/shockwave-hello --port {port} --loops 1' bench/server/run.sh
#
# Markdown goes to stdout (and $OUT/report.md); progress goes to stderr; raw numbers, wrk outputs and server logs
# stay in $OUT (default bench/server/build/results/<date>).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
B=$HERE/build

# ---- settings (environment) --------------------------------------------------------------------------------------
ROUNDS=${ROUNDS:-3}               # measured rounds; each round runs every (test, server) once, servers interleaved
DURATION=${DURATION:-10s}         # wrk -d for a measured run
WARMUP=${WARMUP:-2s}              # wrk -d for the unrecorded warm-up of each (server, test) before round 1
SERVER_CPU=${SERVER_CPU:-0}       # taskset -c for every server (all its threads and processes)
WRK_CPU=${WRK_CPU:-1}             # taskset -c for wrk
CONNS=${CONNS:-64}                # -c for /plaintext, /json, /user/:id
PIPE_CONNS=${PIPE_CONNS:-256}     # -c for the pipelined test
PIPELINE=${PIPELINE:-16}          # requests per write in the pipelined test
WRK_TIMEOUT=${WRK_TIMEOUT:-2s}    # wrk --timeout (a response slower than this counts as a timeout error)
BASE_PORT=${BASE_PORT:-18480}     # servers listen on 127.0.0.1:BASE_PORT, BASE_PORT+1, ...
TESTS=${TESTS:-plaintext json user pipelined}
BUILD=${BUILD:-1}                 # 0: use the binaries already in build/
SCHED_NICE=${SCHED_NICE:-}        # e.g. -20: run servers and wrk at this nice, and this session's autogroup too
SWIFT_SCRATCH=${SWIFT_SCRATCH:-$B/swift}   # swift build --scratch-path (kept apart from the developers' .build)
OUT=${OUT:-$B/results/$(date +%Y%m%d-%H%M%S)}

dur_s() { # "10s" / "2m" / "1h" / "10" -> whole seconds (as wrk reads -d)
    local d=$1
    case $d in
        *h) echo $(( ${d%h} * 3600 )) ;;
        *m) echo $(( ${d%m} * 60 )) ;;
        *s) echo "${d%s}" ;;
        *) echo "$d" ;;
    esac
}
DUR_S=$(dur_s "$DURATION")
WARM_S=$(dur_s "$WARMUP")

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in taskset wrk curl gcc python3 pgrep; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install -y golang-go golang-github-valyala-fasthttp-dev nginx-light wrk curl gcc)"
done
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

mkdir -p "$B" "$OUT"
RUN=$OUT/run
mkdir -p "$RUN"

# ---- build -------------------------------------------------------------------------------------------------------
C_HELLO=$B/c-hello
FASTHTTP=$B/fasthttp-hello
SW_SRCS=("$ROOT"/Sources/CShockwave/*.c)
URING_FLAGS=()
# The io_uring backend is in the tree once a source includes liburing (the epoll files only mention io_uring).
if grep -ql 'liburing\.h' "${SW_SRCS[@]}" 2>/dev/null; then
    URING_FLAGS=(-DSW_HAVE_URING)
fi

build_c_hello() {
    local cc=(gcc -std=c11 -D_GNU_SOURCE -O2 -I"$ROOT/Sources/CShockwave/include" -I"$ROOT/Sources/CShockwave")
    if [ ${#URING_FLAGS[@]} -gt 0 ]; then
        log "build c-hello (io_uring backend found: -DSW_HAVE_URING -luring)"
        if timeout 300 "${cc[@]}" "${URING_FLAGS[@]}" -o "$C_HELLO" "${SW_SRCS[@]}" "$HERE/c_hello.c" -lpthread -luring; then
            return 0
        fi
        log "warning: the io_uring build failed; building c-hello with epoll only"
    else
        log "build c-hello (epoll)"
    fi
    timeout 300 "${cc[@]}" -o "$C_HELLO" "${SW_SRCS[@]}" "$HERE/c_hello.c" -lpthread
}

# What to build: the servers asked for (SERVERS), or the default set when SERVERS is not given.
REQ_SERVERS=${SERVERS:-fasthttp nginx shockwave bolt shockwave-notune floor c-ref}
want() { case " $REQ_SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }
SKIPPED=()   # "server: why" for peers left out before the run (missing package or product)
skip() { log "skip $1: $2"; SKIPPED+=("$1: $2"); }

# The Go peers: built offline with GO111MODULE=off against Debian's packages in /usr/share/gocode. Debian's Echo 4
# sits at github.com/labstack/echo (no /v4), so a GOPATH overlay maps the /v4 import path onto it.
GO_SRC=$ROOT/bench/peers
declare -A GO_BIN=([fasthttp]=$FASTHTTP [nethttp]=$B/nethttp-hello [gin]=$B/gin-hello [echo]=$B/echo-hello)
declare -A GO_DIR=([fasthttp]=$HERE/fasthttp [nethttp]=$GO_SRC/nethttp [gin]=$GO_SRC/gin [echo]=$GO_SRC/echo)
declare -A GO_PKG=([fasthttp]=golang-github-valyala-fasthttp-dev [gin]=golang-github-gin-gonic-gin-dev [echo]=golang-github-labstack-echo-dev)
declare -A GO_SRCDIR=([fasthttp]=valyala/fasthttp [gin]=gin-gonic/gin [echo]=labstack/echo)
build_go() { # name -> 0 when built
    local n=$1 gopath=/usr/share/gocode
    command -v go >/dev/null || { skip "$n" "go not found (apt-get install -y golang-go)"; return 1; }
    if [ -n "${GO_SRCDIR[$n]:-}" ] && ! [ -d "/usr/share/gocode/src/github.com/${GO_SRCDIR[$n]}" ]; then
        skip "$n" "sources not found (apt-get install -y ${GO_PKG[$n]})"; return 1
    fi
    if [ "$n" = echo ]; then
        mkdir -p "$B/gopath-echo/src/github.com/labstack/echo"
        ln -sfn /usr/share/gocode/src/github.com/labstack/echo "$B/gopath-echo/src/github.com/labstack/echo/v4"
        gopath=$B/gopath-echo:/usr/share/gocode
    fi
    log "build $n-hello (Go $(go env GOVERSION), Debian's packages, offline)"
    (cd "${GO_DIR[$n]}" && GO111MODULE=off GOPATH=$gopath GOCACHE="$B/gocache" GOFLAGS= \
        timeout 600 go build -o "${GO_BIN[$n]}" .) || { skip "$n" "go build failed"; return 1; }
}

# The Swift peers from bench/swift (another package, so the main one keeps zero dependencies), when it has them.
SWIFT_PEERS_PKG=$ROOT/bench/swift
declare -A SWIFT_PEER_BIN=()
build_swift_peer() { # name (hummingbird | vapor | nio) -> 0 when built
    local n=$1 prod=$1-hello dir
    if ! [ -f "$SWIFT_PEERS_PKG/Package.swift" ] || ! grep -q "\"$prod\"" "$SWIFT_PEERS_PKG/Package.swift"; then
        skip "$n" "bench/swift has no product $prod yet"; return 1
    fi
    command -v swift >/dev/null || { skip "$n" "swift not found"; return 1; }
    log "build $prod (swift build --package-path bench/swift -c release --product $prod)"
    if ! timeout 3600 swift build --package-path "$SWIFT_PEERS_PKG" -c release --product "$prod" >&2; then
        skip "$n" "swift build of $prod failed"; return 1
    fi
    dir=$(swift build --package-path "$SWIFT_PEERS_PKG" -c release --show-bin-path 2>/dev/null)
    [ -x "$dir/$prod" ] || { skip "$n" "$dir/$prod not found after the build"; return 1; }
    SWIFT_PEER_BIN[$n]=$dir/$prod
}

SW_HELLO=""
BOLT_HELLO=""
if [ "$BUILD" = 1 ]; then
    build_c_hello
    for n in fasthttp nethttp gin echo; do want "$n" && build_go "$n" || true; done
    # The Swift example, once Package.swift has it, unless SHOCKWAVE_CMD says what to run.
    if [ -z "${SHOCKWAVE_CMD:-}" ] && grep -q '"shockwave-hello"' "$ROOT/Package.swift" && command -v swift >/dev/null; then
        log "build shockwave-hello (swift build -c release --product shockwave-hello --scratch-path $SWIFT_SCRATCH)"
        if (cd "$ROOT" && timeout 3600 swift build -c release --product shockwave-hello --scratch-path "$SWIFT_SCRATCH" >&2); then
            SW_HELLO=$SWIFT_SCRATCH/release/shockwave-hello
        else
            log "warning: the Swift example did not build; Shockwave rows use the C reference server (c-hello)"
        fi
        if [ -n "$SW_HELLO" ] && want bolt && grep -q '"bolt-hello"' "$ROOT/Package.swift"; then
            log "build bolt-hello"
            if (cd "$ROOT" && timeout 3600 swift build -c release --product bolt-hello --scratch-path "$SWIFT_SCRATCH" >&2); then
                BOLT_HELLO=$SWIFT_SCRATCH/release/bolt-hello
            else
                log "warning: bolt-hello did not build; no Bolt rows"
            fi
        fi
    fi
    for n in hummingbird vapor nio; do want "$n" && build_swift_peer "$n" || true; done
else
    [ -x "$C_HELLO" ] || die "BUILD=0 but $C_HELLO is missing"
    for n in fasthttp nethttp gin echo; do
        want "$n" && ! [ -x "${GO_BIN[$n]}" ] && skip "$n" "BUILD=0 and ${GO_BIN[$n]} is missing"
    done
    [ -x "$SWIFT_SCRATCH/release/shockwave-hello" ] && SW_HELLO=$SWIFT_SCRATCH/release/shockwave-hello
    [ -x "$SWIFT_SCRATCH/release/bolt-hello" ] && BOLT_HELLO=$SWIFT_SCRATCH/release/bolt-hello
    dir=""
    if want hummingbird || want vapor || want nio; then
        dir=$(swift build --package-path "$SWIFT_PEERS_PKG" -c release --show-bin-path 2>/dev/null || true)
    fi
    for n in hummingbird vapor nio; do
        if [ -n "$dir" ] && [ -x "$dir/$n-hello" ]; then SWIFT_PEER_BIN[$n]=$dir/$n-hello
        elif want "$n"; then skip "$n" "BUILD=0 and no $n-hello in bench/swift's release build"; fi
    done
fi

# ---- servers -----------------------------------------------------------------------------------------------------
# Command lines take {port}. The Shockwave ones come from the environment when set.
PH='{port}'
if [ -n "$SW_HELLO" ]; then
    : "${SHOCKWAVE_CMD:=$SW_HELLO --host 127.0.0.1 --port $PH --loops 1}"
    : "${SHOCKWAVE_NOTUNE_CMD:=$SW_HELLO --host 127.0.0.1 --port $PH --loops 1 --no-tune}"
    DEFAULT_SERVERS="fasthttp nginx shockwave shockwave-notune floor c-ref"
    if [ -n "$BOLT_HELLO" ]; then
        : "${BOLT_CMD:=$BOLT_HELLO --host 127.0.0.1 --port $PH --loops 1}"
        DEFAULT_SERVERS="fasthttp nginx shockwave bolt shockwave-notune floor c-ref"
    fi
else
    : "${SHOCKWAVE_CMD:=$C_HELLO --port $PH --loops 1}"
    : "${SHOCKWAVE_NOTUNE_CMD:=$C_HELLO --port $PH --loops 1 --no-tune}"
    DEFAULT_SERVERS="fasthttp nginx shockwave shockwave-notune floor"
fi
# The floor: Shockwave's loop answering each CRLF CRLF with a canned response, no parsing (cfg.floor_reply).
: "${FLOOR_CMD:=$C_HELLO --port $PH --loops 1 --floor}"
: "${CREF_CMD:=$C_HELLO --port $PH --loops 1}"
: "${FASTHTTP_CMD:=env GOMAXPROCS=1 $FASTHTTP --port $PH}"
: "${NETHTTP_CMD:=env GOMAXPROCS=1 ${GO_BIN[nethttp]} --port $PH}"
: "${GIN_CMD:=env GOMAXPROCS=1 ${GO_BIN[gin]} --port $PH}"
: "${ECHO_CMD:=env GOMAXPROCS=1 ${GO_BIN[echo]} --port $PH}"
# The Swift peers: one event-loop thread each (their own default when given --port).
[ -n "${SWIFT_PEER_BIN[hummingbird]:-}" ] && : "${HUMMINGBIRD_CMD:=${SWIFT_PEER_BIN[hummingbird]} --port $PH}"
[ -n "${SWIFT_PEER_BIN[vapor]:-}" ] && : "${VAPOR_CMD:=${SWIFT_PEER_BIN[vapor]} --port $PH}"
[ -n "${SWIFT_PEER_BIN[nio]:-}" ] && : "${NIO_CMD:=${SWIFT_PEER_BIN[nio]} --port $PH}"
SERVERS=${SERVERS:-$DEFAULT_SERVERS}
# Leave out, with the reason logged, the peers that could not be built or are not installed.
KEEP=""
for s in $SERVERS; do
    case $s in
        fasthttp|nethttp|gin|echo) [ -x "${GO_BIN[$s]}" ] || { skip "$s" "${GO_BIN[$s]} was not built"; continue; } ;;
        hummingbird|vapor|nio) [ -n "${SWIFT_PEER_BIN[$s]:-}" ] || continue ;;  # logged by build_swift_peer
        nginx) command -v nginx >/dev/null || { skip nginx "nginx not found (apt-get install -y nginx-light)"; continue; } ;;
        h2o) command -v h2o >/dev/null || { skip h2o "h2o not found (apt-get install -y h2o)"; continue; } ;;
        bolt) [ -n "${BOLT_CMD:-}" ] || { skip bolt "bolt-hello was not built"; continue; } ;;
    esac
    KEEP="$KEEP $s"
done
SERVERS=${KEEP# }

NGX=$RUN/nginx
nginx_conf() { # port
    mkdir -p "$NGX"
    cat > "$NGX/nginx.conf" <<EOF
# nginx-light peer: one worker, /plaintext only. Written by bench/server/run.sh.
daemon off;
master_process on;
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 75s;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    server {
        listen 127.0.0.1:$1;
        location = /plaintext {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
}

H2O=$RUN/h2o
h2o_conf() { # port
    mkdir -p "$H2O"
    printf 'Hello, World!' > "$H2O/plaintext.txt"
    cat > "$H2O/h2o.conf" <<EOF
# h2o peer: one thread, /plaintext only (file.file: h2o serves the 13-byte file from its open-file cache; .txt is
# text/plain). Written by bench/server/run.sh.
num-threads: 1
$( [ "$(id -u)" = 0 ] && echo 'user: root' )
pid-file: $H2O/h2o.pid
error-log: $H2O/error.log
http1-request-timeout: 75
listen:
  host: 127.0.0.1
  port: $1
hosts:
  default:
    paths:
      /plaintext:
        file.file: $H2O/plaintext.txt
EOF
}

declare -A CMD PORT PID TESTS_OF
i=0
for s in $SERVERS; do
    port=$((BASE_PORT + i)); i=$((i + 1))
    case $s in
        fasthttp) cmd=$FASTHTTP_CMD; t="plaintext json user pipelined" ;;
        nginx) nginx_conf "$port"; cmd="nginx -p $NGX -c $NGX/nginx.conf -e $NGX/error.log"; t="plaintext pipelined" ;;
        h2o) h2o_conf "$port"; cmd="h2o -m worker -c $H2O/h2o.conf"; t="plaintext pipelined" ;;
        nethttp) cmd=$NETHTTP_CMD; t="plaintext json user pipelined" ;;
        gin) cmd=$GIN_CMD; t="plaintext json user pipelined" ;;
        echo) cmd=$ECHO_CMD; t="plaintext json user pipelined" ;;
        hummingbird) cmd=$HUMMINGBIRD_CMD; t="plaintext json user pipelined" ;;
        vapor) cmd=$VAPOR_CMD; t="plaintext json user pipelined" ;;
        nio) cmd=$NIO_CMD; t="plaintext json user pipelined" ;;
        shockwave) cmd=$SHOCKWAVE_CMD; t="plaintext json user pipelined" ;;
        shockwave-notune) cmd=$SHOCKWAVE_NOTUNE_CMD; t="plaintext json user pipelined" ;;
        bolt) cmd=${BOLT_CMD:?bolt-hello was not built}; t="plaintext json user pipelined" ;;
        floor) cmd=$FLOOR_CMD; t="plaintext pipelined" ;;
        c-ref) cmd=$CREF_CMD; t="plaintext json user pipelined" ;;
        *) die "unknown server '$s' (fasthttp nethttp gin echo nginx h2o shockwave bolt hummingbird vapor nio shockwave-notune floor c-ref)" ;;
    esac
    CMD[$s]=${cmd//"$PH"/$port}
    PORT[$s]=$port
    TESTS_OF[$s]=$t
done

# Every process of a server: the PID and its descendants (nginx: master and worker).
tree_pids() {
    local p=$1 c
    [ -d "/proc/$p" ] || return 0
    echo "$p"
    for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}

stop_server() { # name
    local s=$1 p=${PID[$1]:-} k all
    [ -n "$p" ] || return 0
    all=$(tree_pids "$p")
    # shellcheck disable=SC2086
    [ -n "$all" ] && kill -TERM $all 2>/dev/null || true
    for k in $(seq 50); do
        [ -d "/proc/$p" ] && [ "$(awk '{print $3}' /proc/"$p"/stat 2>/dev/null)" != Z ] || break
        sleep 0.1
    done
    all=$(tree_pids "$p")
    # shellcheck disable=SC2086
    [ -n "$all" ] && kill -KILL $all 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    PID[$s]=""
}

cleanup() {
    local s
    for s in $SERVERS; do stop_server "$s"; done
    if [ -n "$AUTOGROUP_OLD" ]; then echo "$AUTOGROUP_OLD" > /proc/$$/autogroup 2>/dev/null || true; fi
}
AUTOGROUP_OLD=""
NICE_PREFIX=""
# With autogroup scheduling (sched_autogroup_enabled=1) processes of other sessions share a CPU with ours half and half
# whatever their nice, so a nice-19 fuzzer elsewhere still takes half of the server's core. SCHED_NICE raises this
# session's autogroup (restored at exit) and the benchmark processes; it slows everything else on the machine.
if [ -n "$SCHED_NICE" ]; then
    NICE_PREFIX="nice -n $SCHED_NICE"
    if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ] && [ -w /proc/$$/autogroup ]; then
        AUTOGROUP_OLD=$(awk '{print $NF}' /proc/$$/autogroup)
        echo "$SCHED_NICE" > /proc/$$/autogroup || AUTOGROUP_OLD=""
    fi
fi
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() { # name
    local s=$1 port=${PORT[$1]} k
    if port_busy "$port"; then die "127.0.0.1:$port is already in use (set BASE_PORT)"; fi
    log "start $s: taskset -c $SERVER_CPU ${CMD[$s]}"
    # taskset and bash exec, so $! is the server itself; every thread and child inherits the affinity.
    taskset -c "$SERVER_CPU" $NICE_PREFIX bash -c "exec ${CMD[$s]}" > "$RUN/$s.log" 2>&1 &
    PID[$s]=$!
    for k in $(seq 100); do
        if ! [ -d "/proc/${PID[$s]}" ]; then break; fi
        if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/plaintext"; then return 0; fi
        sleep 0.1
    done
    log "warning: $s did not come up on 127.0.0.1:$port; left out (log: $RUN/$s.log)"
    sed 's/^/    /' "$RUN/$s.log" >&2 || true
    stop_server "$s"
    return 1
}

check_affinity() { # name -> 0 when every thread of every process is on SERVER_CPU only
    local s=$1 p bad=0 l
    for p in $(tree_pids "${PID[$s]}"); do
        for l in $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/^Cpus_allowed_list/ {print $2}'); do
            [ "$l" = "$SERVER_CPU" ] || bad=1
        done
    done
    [ $bad = 0 ] || log "warning: $s has a thread outside CPU $SERVER_CPU"
    return $bad
}

url_of() { # server test
    local port=${PORT[$1]:-PORT}
    case $2 in
        plaintext|pipelined) echo "http://127.0.0.1:$port/plaintext" ;;
        json) echo "http://127.0.0.1:$port/json" ;;
        user) echo "http://127.0.0.1:$port/user/12345" ;;
    esac
}
expected_body() {
    case $1 in
        plaintext|pipelined) printf 'Hello, World!' ;;
        json) printf '{"message":"Hello, World!"}' ;;
        user) printf 'user 12345' ;;
    esac
}

# Checks a server answers a test's URL right; prints the bytes of one response (head + body).
check_route() { # server test
    local s=$1 t=$2 url body code
    url=$(url_of "$s" "$t")
    body=$(curl -s --max-time 2 -o - -w '\n%{http_code}' "$url") || return 1
    code=${body##*$'\n'}; body=${body%$'\n'*}
    # One trailing newline is accepted: Echo's c.JSON ends the body with one (json.Encoder).
    if [ "$code" != 200 ] || { [ "$body" != "$(expected_body "$t")" ] && [ "${body%$'\n'}" != "$(expected_body "$t")" ]; }; then
        log "warning: $s $url answered $code '$body'; $s left out of $t"
        return 1
    fi
    curl -s --max-time 2 -i "$url" | wc -c
}

# ---- measuring ---------------------------------------------------------------------------------------------------
# utime and stime (clock ticks) summed over the server's processes; /proc/PID/stat covers all threads of a process,
# the ones that exited included.
cpu_ticks() {
    local p u=0 st=0 f
    for p in $(tree_pids "$1"); do
        f=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null) || continue
        set -- $f
        u=$((u + ${12})); st=$((st + ${13}))
    done
    echo "$u $st"
}
# Busy ticks of the server's CPU from /proc/stat: user nice system irq softirq steal.
core_busy() {
    awk -v c="cpu$SERVER_CPU" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
reset_hwm() { local p; for p in $(tree_pids "$1"); do echo 5 > /proc/"$p"/clear_refs 2>/dev/null || true; done; }
hwm_kb() {
    local p sum=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmHWM/ {print $2}' /proc/"$p"/status 2>/dev/null) || v=0
        sum=$((sum + ${v:-0}))
    done
    echo $sum
}

# Every run goes through pipeline.lua: it pipelines when WRK_PIPELINE > 1 (else wrk sends its static request as
# without a script) and prints p99 recomputed from wrk's histogram (wrk 4.1's own 99% is wrong when pipelining).
LUA=$HERE/pipeline.lua
wrk_cmd() { # server test duration
    local c=$CONNS depth=1
    if [ "$2" = pipelined ]; then c=$PIPE_CONNS; depth=$PIPELINE; fi
    echo taskset -c "$WRK_CPU" $NICE_PREFIX env WRK_PIPELINE="$depth" WRK_CONNECTIONS="$c" \
        wrk -t1 -c"$c" -d"$3" --timeout "$WRK_TIMEOUT" --latency -s "$LUA" "$(url_of "$1" "$2")"
}

RAW=$OUT/raw.tsv
printf 'round\tserver\ttest\trequests\trps\tp99_us\tp99_raw_us\tp99_wrk_us\tutime_ticks\tstime_ticks\tclk_tck\thwm_kb\twall_s\twrk_user_s\twrk_sys_s\tcore_other_ticks\terrors\n' > "$RAW"
CLK=$(getconf CLK_TCK)

run_wrk() { # round server test duration_arg duration_s record(0/1)
    local r=$1 s=$2 t=$3 d=$4 ds=$5 rec=$6 p=${PID[$2]} f cmd
    f=$RUN/wrk-$r-$s-$t.txt
    cmd=$(wrk_cmd "$s" "$t" "$d")
    [ -d "/proc/$p" ] || { log "warning: $s is gone"; return 1; }
    reset_hwm "$p"
    local c0 b0 c1 b1 t0 t1 tf=$RUN/time.$$
    c0=$(cpu_ticks "$p"); b0=$(core_busy); t0=$(date +%s.%N)
    local TIMEFORMAT='%3U %3S'
    { time timeout $((ds + 60)) $cmd > "$f" 2> "$f.err" ; } 2> "$tf" || log "warning: wrk failed for $s $t (see $f.err)"
    t1=$(date +%s.%N); c1=$(cpu_ticks "$p"); b1=$(core_busy)
    local hwm; hwm=$(hwm_kb "$p")
    [ "$rec" = 1 ] || return 0
    echo "# $cmd" >> "$f"
    "$PY" - "$f" "$r" "$s" "$t" "$c0" "$c1" "$b0" "$b1" "$t0" "$t1" "$CLK" "$hwm" "$(cat "$tf")" >> "$RAW" <<'PYEOF'
import re, sys
f, r, s, t = sys.argv[1:5]
u0, s0 = map(int, sys.argv[5].split()); u1, s1 = map(int, sys.argv[6].split())
b0, b1 = int(sys.argv[7]), int(sys.argv[8]); t0, t1 = float(sys.argv[9]), float(sys.argv[10])
clk, hwm = int(sys.argv[11]), int(sys.argv[12]); wu, ws = (sys.argv[13].split() + ['0', '0'])[:2]
txt = open(f).read()
def num(pat, conv=float, default=0):
    m = re.search(pat, txt)
    return conv(m.group(1)) if m else default
unit = {'us': 1, 'ms': 1e3, 's': 1e6, 'm': 60e6, 'h': 3600e6}
m = re.search(r'^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$', txt, re.M)
p99_wrk = float(m.group(1)) * unit[m.group(2)] if m else -1
p99 = p99_wrk
m = re.search(r'^p99-us: (-?\d+)$', txt, re.M)
if m: p99 = float(m.group(1))
m = re.search(r'^p99-raw-us: (-?\d+)$', txt, re.M)
p99_raw = float(m.group(1)) if m else -1
reqs = num(r'(\d+) requests in', int)
rps = num(r'Requests/sec:\s+([\d.]+)')
err = 0
m = re.search(r'Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)', txt)
if m: err += sum(map(int, m.groups()))
err += num(r'Non-2xx or 3xx responses: (\d+)', int)
server_ticks = (u1 - u0) + (s1 - s0)
other = (b1 - b0) - server_ticks
print('\t'.join(map(str, [r, s, t, reqs, rps, round(p99, 1), round(p99_raw, 1), round(p99_wrk, 1), u1 - u0, s1 - s0, clk, hwm, round(t1 - t0, 3), wu, ws, other, err])))
PYEOF
    tail -n 1 "$RAW" | awk -F'\t' '{printf "    %-17s %-9s %10.0f req/s  p99 %8.0f us (raw %8.0f)  cpu %.2f us/req  errors %s\n", $2, $3, $5, $6, $7, ($9+$10)*1e6/$11/($4>0?$4:1), $17}' >&2
}

# ---- run ---------------------------------------------------------------------------------------------------------
LOAD_BEFORE=$(cat /proc/loadavg)
log "results in $OUT"
log "load before: $LOAD_BEFORE"
ACTIVE=()
declare -A OK SIZE
for s in $SERVERS; do
    start_server "$s" || continue
    check_affinity "$s" || true
    ACTIVE+=("$s")
    for t in ${TESTS_OF[$s]}; do
        case " $TESTS " in *" $t "*) ;; *) continue ;; esac
        if sz=$(check_route "$s" "$t"); then OK[$s,$t]=1; SIZE[$s,$t]=$sz; fi
    done
done
[ ${#ACTIVE[@]} -gt 0 ] || die "no server started"

if [ "$WARM_S" -gt 0 ]; then
    for t in $TESTS; do
        for s in "${ACTIVE[@]}"; do
            [ -n "${OK[$s,$t]:-}" ] || continue
            log "warm-up $s $t ($WARMUP)"
            run_wrk 0 "$s" "$t" "$WARMUP" "$WARM_S" 0 || true
        done
    done
fi

n=${#ACTIVE[@]}
for r in $(seq "$ROUNDS"); do
    for t in $TESTS; do
        log "round $r/$ROUNDS: $t"
        # The order rotates each round, so no server always runs first or right after the same neighbour.
        for k in $(seq 0 $((n - 1))); do
            s=${ACTIVE[$(( (k + r - 1) % n ))]}
            [ -n "${OK[$s,$t]:-}" ] || continue
            run_wrk "$r" "$s" "$t" "$DURATION" "$DUR_S" 1 || true
        done
    done
done
for s in "${ACTIVE[@]}"; do check_affinity "$s" || true; done
LOAD_AFTER=$(cat /proc/loadavg)
log "load after: $LOAD_AFTER"

# ---- report ------------------------------------------------------------------------------------------------------
META=$OUT/meta.txt
{
    echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit	$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$([ -z "$(git -C "$ROOT" status --porcelain -- Sources Package.swift 2>/dev/null)" ] || echo ' (Sources or Package.swift has uncommitted changes)')"
    echo "cpu	$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) CPUs, kernel $(uname -r)"
    echo "settings	ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP server on CPU $SERVER_CPU, wrk on CPU $WRK_CPU; -c$CONNS; pipelined -c$PIPE_CONNS x $PIPELINE"
    echo "load	before $LOAD_BEFORE; after $LOAD_AFTER${SCHED_NICE:+; SCHED_NICE=$SCHED_NICE}"
    dpkg_v() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
    echo "versions	$(go version 2>/dev/null | awk '{print $3}'), fasthttp $(dpkg_v golang-github-valyala-fasthttp-dev), nginx $(dpkg_v nginx-light), wrk $(dpkg_v wrk)"
    echo "versions	gin $(dpkg_v golang-github-gin-gonic-gin-dev), echo $(dpkg_v golang-github-labstack-echo-dev), h2o $(dpkg_v h2o), $(swift --version 2>/dev/null | head -n 1 | sed 's/ (.*//')"
    if [ -f "$SWIFT_PEERS_PKG/Package.resolved" ]; then
        echo "versions	bench/swift: $("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(", ".join(p["identity"]+" "+p["state"].get("version","?") for p in d["pins"] if p["identity"] in ("hummingbird","vapor","swift-nio")))' "$SWIFT_PEERS_PKG/Package.resolved" 2>/dev/null)"
    fi
    for v in "${SKIPPED[@]}"; do echo "skipped	$v"; done
    for s in "${ACTIVE[@]}"; do
        first=$(head -n 1 "$RUN/$s.log" 2>/dev/null | tr -d '\r')
        echo "cmd	$s	taskset -c $SERVER_CPU ${CMD[$s]}${first:+   [$first]}"
    done
    for s in "${ACTIVE[@]}"; do
        for t in $TESTS; do [ -n "${SIZE[$s,$t]:-}" ] && echo "size	$s	$t	${SIZE[$s,$t]}"; done
    done
    echo "wrk	$(wrk_cmd SERVER plaintext "$DURATION" | sed 's|http://127.0.0.1:[^ ]*|URL|')"
    echo "wrk	$(wrk_cmd SERVER pipelined "$DURATION" | sed 's|http://127.0.0.1:[^ ]*|URL|')"
} > "$META"
"$PY" "$HERE/report.py" "$RAW" "$META" --json "$OUT/results.json" | tee "$OUT/report.md"
log "report: $OUT/report.md; machine-readable: $OUT/results.json"
