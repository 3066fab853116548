#!/usr/bin/env python3
"""Clients that send requests and never read the answers: bounded buffering, then dropped at the write timeout.

Opens N connections to a running server; each pipelines GET requests without reading a byte until the socket
takes no more (the server stopped reading: its output waits for us). Then it samples the server's VmRSS and open
descriptors once a second until the server has dropped every one of them (its write timeout, default 30 s) or
--wait seconds pass.

    taskset -c 0 .build/release/bolt-hello --host 127.0.0.1 --port 18400 --loops 1 &
    taskset -c 1 python3 bench/slow_readers.py --pid $! --port 18400 --connections 100

Passes (exit 0) when RSS grew by less than 256 KiB per connection at its peak and the descriptors are back to
the baseline before --wait runs out. Loopback only.
"""
import argparse
import os
import socket
import sys
import time

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: slow\r\n\r\n" * 256


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--wait", type=int, default=45)
    a = ap.parse_args()

    rss0, fd0 = rss_kib(a.pid), fds(a.pid)
    socks, sent = [], 0
    for _ in range(a.connections):
        s = socket.create_connection(("127.0.0.1", a.port))
        s.setblocking(False)
        socks.append(s)
    # pipeline until every socket is stalled for 300 ms
    offsets = [0] * len(socks)
    quiet_since = [None] * len(socks)
    while any(q is None or time.monotonic() - q < 0.3 for q in quiet_since):
        for i, s in enumerate(socks):
            try:
                n = s.send(REQUEST[offsets[i]:])
                offsets[i] = (offsets[i] + n) % len(REQUEST)
                sent += n
                quiet_since[i] = None
            except BlockingIOError:
                if quiet_since[i] is None:
                    quiet_since[i] = time.monotonic()
        time.sleep(0.005)
    requests = sent // (len(REQUEST) // 256)
    print(f"{a.connections} connections sent {requests} requests ({sent / 2**20:.1f} MiB) and stalled; "
          f"baseline RSS {rss0} KiB, {fd0} descriptors", flush=True)
    start = time.monotonic()
    peak = rss0
    dropped_at = None
    while time.monotonic() - start < a.wait:
        r, f = rss_kib(a.pid), fds(a.pid)
        peak = max(peak, r)
        print(f"  t={time.monotonic() - start:5.1f}s RSS {r} KiB, {f} descriptors", flush=True)
        if f <= fd0:
            dropped_at = time.monotonic() - start
            break
        time.sleep(1)
    growth = (peak - rss0) / a.connections
    print(f"peak RSS {peak} KiB: +{growth:.1f} KiB per connection; "
          + (f"all dropped after {dropped_at:.1f} s" if dropped_at is not None else f"still open after {a.wait} s"))
    for s in socks:
        s.close()
    ok = dropped_at is not None and growth < 256
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
