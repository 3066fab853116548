#!/usr/bin/env python3
"""Many held keep-alive connections while wrk loads the server on top: every request answered?

Opens --held connections to a running server and keeps them open; each sends a request and reads its answer,
and then does so again once per round while wrk runs its own connections against the server for --duration
seconds. Reports the server's memory per held connection (VmRSS from /proc/PID/status), the requests the held
connections sent and got answered, wrk's requests/s, latency and errors, and the server's CPU time.

    ulimit -n 65536
    taskset -c 0 .build/release/bolt-hello --host 127.0.0.1 --port 18300 --loops 1 &
    taskset -c 1 python3 bench/scale.py --pid $! --port 18300 --held 10000 --duration 10

Exits non-zero when a held connection's request went unanswered or wrong, or wrk saw errors. Loopback only.
bench/scale.sh runs it on both backends.
"""
import argparse
import json
import os
import re
import selectors
import socket
import subprocess
import sys
import time

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: scale\r\n\r\n"
BODY = b"Hello, World!"


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(socks, timeout: float):
    """Sends a request on every held connection, reads every answer; returns (answered, errors)."""
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        try:
            s.sendall(REQUEST)
        except OSError as e:
            return 0, [f"send: {e}"]
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
    answered, errors = 0, []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError as e:
                errors.append(f"recv: {e}")
                sel.unregister(s)
                del pending[s]
                continue
            if not data:
                errors.append("closed by the server")
                sel.unregister(s)
                del pending[s]
                continue
            buf = pending[s] + data
            if buf.endswith(BODY):
                if not buf.startswith(b"HTTP/1.1 200"):
                    errors.append(f"status {buf[:20]!r}")
                else:
                    answered += 1
                sel.unregister(s)
                del pending[s]
            else:
                pending[s] = buf
    if pending:
        errors.append(f"{len(pending)} answers missing after {timeout} s")
    sel.close()
    return answered, errors


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--held", type=int, default=10000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--wrk-connections", type=int, default=64)
    ap.add_argument("--wrk-path", default="/plaintext")
    ap.add_argument("--json", help="append the result as one JSON line to this file")
    a = ap.parse_args()

    base = rss_kib(a.pid)
    socks = []
    for _ in range(a.held):
        s = socket.create_connection(("127.0.0.1", a.port))
        socks.append(s)
    answered, errors = one_round(socks, 30)
    if errors:
        print(f"opening round: {answered}/{a.held} answered, errors: {errors[:3]}", file=sys.stderr)
        return 1
    time.sleep(1)
    held_rss = rss_kib(a.pid)
    per_conn = (held_rss - base) / a.held
    print(f"held {a.held} connections: RSS {base} -> {held_rss} KiB, {per_conn:.2f} KiB per connection", flush=True)

    cpu0 = cpu_seconds(a.pid)
    wrk = subprocess.Popen(
        ["wrk", "-t1", f"-c{a.wrk_connections}", f"-d{a.duration}s", "--latency",
         f"http://127.0.0.1:{a.port}{a.wrk_path}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    rounds, held_sent, held_answered, held_errors = 0, 0, 0, []
    while wrk.poll() is None:
        ok, errs = one_round(socks, 30)
        rounds += 1
        held_sent += len(socks)
        held_answered += ok
        held_errors += errs
    out = wrk.stdout.read()
    cpu1 = cpu_seconds(a.pid)
    peak_rss = rss_kib(a.pid)

    def grab(pattern, cast=float, default=0):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else default

    wrk_rps = grab(r"Requests/sec:\s+([\d.]+)")
    wrk_total = grab(r"(\d+) requests in", int)
    non2xx = grab(r"Non-2xx or 3xx responses: (\d+)", int)
    sock_err = re.search(r"Socket errors: (.*)", out)
    p99 = re.search(r"99%\s+(\S+)", out)
    total = wrk_total + held_sent
    cpu_us = (cpu1 - cpu0) / max(wrk_total + held_answered, 1) * 1e6
    print(f"under wrk -c{a.wrk_connections} for {a.duration} s: wrk {wrk_rps:,.0f} req/s, p99 {p99.group(1) if p99 else '?'}, "
          f"non-2xx {non2xx}, socket errors: {sock_err.group(1) if sock_err else 'none'}")
    print(f"held connections: {rounds} rounds, {held_answered}/{held_sent} requests answered, errors: {held_errors[:3] or 'none'}")
    print(f"server CPU {cpu_us:.2f} us/request over {wrk_total + held_answered} requests; RSS after {peak_rss} KiB")
    result = {"held": a.held, "rss_base_kib": base, "rss_held_kib": held_rss, "per_conn_kib": round(per_conn, 2),
              "wrk_rps": wrk_rps, "wrk_requests": wrk_total, "wrk_p99": p99.group(1) if p99 else None,
              "wrk_non2xx": non2xx, "wrk_socket_errors": sock_err.group(1) if sock_err else None,
              "held_rounds": rounds, "held_sent": held_sent, "held_answered": held_answered,
              "cpu_us_per_request": round(cpu_us, 2), "rss_after_kib": peak_rss}
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(result) + "\n")
    for s in socks:
        s.close()
    ok = not held_errors and held_answered == held_sent and non2xx == 0 and sock_err is None and total > 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
