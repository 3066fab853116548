#!/usr/bin/env python3
"""Hostile input against a live server on loopback, for a bounded time.

Hostile clients send mutated and malformed requests (seeds from fuzz/corpus, mutated by byte flips, insertions,
deletions, truncation, duplication, splices, CR/LF and NUL injection, huge fields, slow trickles and resets) on
many connections at once, while a good client keeps sending valid keep-alive requests on its own connection.

Pass when, for the whole run:
  - the server process stays alive;
  - every hostile connection ends with a well-formed HTTP/1.1 response (status line with a 3-digit code) or a
    close or reset, within the timeout: no hang;
  - every request of the good client gets `200 OK` with the expected body, in time.

    python3 fuzz/live_hostile.py --port 8080 --pid PID --seconds 30

The server must answer GET /plaintext with "Hello, World!" (shockwave-hello, bolt-hello). Exit status 0 on
pass; a summary line either way. Standard library only.
"""
import argparse
import os
import random
import re
import socket
import sys
import threading
import time

STATUS_LINE = re.compile(rb"^HTTP/1\.[01] [1-5][0-9][0-9] [^\r\n]*\r\n")


def seeds(corpus_dir):
    out = []
    for name in sorted(os.listdir(corpus_dir)):
        path = os.path.join(corpus_dir, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if data:
            out.append(data)
    out.append(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
    out.append(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    return out


def mutate(rng, data, pool):
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(11)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[pos:pos] = bytes([rng.randrange(256)]) * rng.randint(1, 4)
        elif op == 2 and data:
            del data[pos:pos + rng.randint(1, 16)]
        elif op == 3:
            data = data[:pos]
        elif op == 4:
            data = data + data[:pos]  # pipelined copies, partial
        elif op == 5:
            other = rng.choice(pool)
            data[pos:pos] = other[:rng.randrange(len(other) + 1)]
        elif op == 6:
            data[pos:pos] = rng.choice([b"\r", b"\n", b"\r\n", b"\x00", b"\r\r\n", b" \r\n\t"])
        elif op == 7:
            data[pos:pos] = b"X-Big: " + b"a" * rng.choice([100, 5000, 20000, 70000]) + b"\r\n"
        elif op == 8:
            data[pos:pos] = rng.choice([b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n",
                                        b"Content-Length: 99999999999999999999\r\n", b"Expect: 100-continue\r\n",
                                        b"Connection: close\r\n", b"Host: a\r\nHost: b\r\n"])
        elif op == 9:
            data[pos:pos] = b"GET /" + b"%" * rng.randint(1, 3) + b"x" * rng.choice([10, 9000]) + b" HTTP/1.1\r\n"
        elif op == 10:
            data = bytearray(rng.choice([b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                                         b"\r\n" * 50, b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 500])) + data
    return bytes(data)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.connections = 0
        self.responses = 0
        self.closes = 0
        self.statuses = {}
        self.failures = []

    def fail(self, text):
        with self.lock:
            if len(self.failures) < 20:
                self.failures.append(text)


def hostile(port, stop, rng, pool, stats, timeout):
    while not stop.is_set():
        payload = mutate(rng, rng.choice(pool), pool)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as e:
            stats.fail(f"connect: {e}")
            time.sleep(0.05)
            continue
        with stats.lock:
            stats.connections += 1
        try:
            s.settimeout(timeout)
            style = rng.randrange(4)
            if style == 0:
                s.sendall(payload)
            elif style == 1:  # trickle
                for i in range(0, len(payload), rng.randint(1, 64)):
                    s.sendall(payload[i:i + 64])
            elif style == 2:  # reset in the middle
                s.sendall(payload[:rng.randrange(len(payload) + 1)])
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.close()
                continue
            else:  # half-close after sending
                s.sendall(payload)
                s.shutdown(socket.SHUT_WR)
            got = b""
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                except socket.timeout:
                    break
                if not chunk:
                    break
                got += chunk
                if len(got) > 1 << 20:
                    break
            if got:
                if not STATUS_LINE.match(got):
                    stats.fail(f"malformed response start {got[:60]!r} to {payload[:80]!r}")
                else:
                    code = int(got[9:12])
                    with stats.lock:
                        stats.responses += 1
                        stats.statuses[code] = stats.statuses.get(code, 0) + 1
            else:
                with stats.lock:
                    stats.closes += 1
        except (ConnectionResetError, BrokenPipeError):
            with stats.lock:
                stats.closes += 1
        except socket.timeout:
            pass  # a trickle the server is still reading: its header deadline ends it, not ours
        except OSError as e:
            stats.fail(f"{type(e).__name__}: {e}")
        finally:
            try:
                s.close()
            except OSError:
                pass


def good_client(port, stop, stats, counter):
    request = b"GET /plaintext HTTP/1.1\r\nHost: good\r\n\r\n"
    s = None
    while not stop.is_set():
        try:
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(request)
            got = b""
            while b"Hello, World!" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    raise ConnectionError("closed")
                got += chunk
            if not got.startswith(b"HTTP/1.1 200 OK\r\n"):
                stats.fail(f"good client got {got[:60]!r}")
            counter[0] += 1
            time.sleep(0.005)
        except (OSError, ConnectionError) as e:
            stats.fail(f"good client: {e}")
            s = None
            time.sleep(0.1)


def alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=15, help="per connection; above the server's header deadline")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus"))
    args = ap.parse_args()

    pool = seeds(args.corpus)
    stats = Stats()
    stop = threading.Event()
    good = [0]
    threads = [threading.Thread(target=hostile, args=(args.port, stop, random.Random(args.seed + i), pool, stats, args.timeout))
               for i in range(args.clients)]
    threads.append(threading.Thread(target=good_client, args=(args.port, stop, stats, good)))
    for t in threads:
        t.daemon = True
        t.start()
    end = time.time() + args.seconds
    while time.time() < end:
        if not alive(args.pid):
            stats.fail("the server process died")
            break
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join(args.timeout + 5)
        if t.is_alive():
            stats.fail("a client thread hung past its timeout (a connection neither answered nor closed)")
    if not alive(args.pid):
        stats.fail("the server process died")
    top = ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items()))
    verdict = "pass" if not stats.failures and good[0] > 0 else "fail"
    print(f"live_hostile: {verdict}: {stats.connections} hostile connections in {args.seconds:.0f} s "
          f"({stats.responses} answered [{top}], {stats.closes} closed or reset), good client {good[0]} requests OK")
    for f in stats.failures:
        print("  " + f)
    sys.exit(0 if verdict == "pass" else 1)


if __name__ == "__main__":
    main()
