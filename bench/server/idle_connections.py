#!/usr/bin/env python3
"""RSS cost of idle keep-alive connections.

Opens N connections to a running server, sends one GET /plaintext on each, reads the answers, leaves them idle,
and prints the server's VmRSS before and after (from /proc/PID/status) and the difference per connection.

    taskset -c 0 .build/release/shockwave-hello --host 127.0.0.1 --port 18192 --loops 1 &
    taskset -c 1 python3 bench/server/idle_connections.py $! 18192 10000

N is bounded by the open-file limit of both processes (ulimit -n). Loopback only.
"""
import socket
import sys
import time


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main() -> None:
    pid, port, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    before = rss_kib(pid)
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    for s in socks:
        s.settimeout(5)
        reply = s.recv(4096)
        if not reply.startswith(b"HTTP/1.1 200"):
            raise SystemExit(f"unexpected reply: {reply[:60]!r}")
    time.sleep(1)
    after = rss_kib(pid)
    print(f"connections={n} rss_before_kib={before} rss_after_kib={after} per_conn_kib={(after - before) / n:.2f}")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
