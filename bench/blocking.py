#!/usr/bin/env python3
"""Helpers for bench/blocking.sh (standard library only).

  blocking.py park PORT N READY_FILE   opens N connections, each sending BLPOP blk:<i> 0, waits
                                       until INFO clients shows N blocked clients (or, for a
                                       server without the field, until all are sent), writes
                                       READY_FILE and keeps them open until killed
  blocking.py lateness PORT N TIMEOUT  runs N BLPOPs with TIMEOUT seconds on empty keys, 20 at
                                       a time, and prints p50 p99 max of (elapsed - TIMEOUT) in ms
"""
import socket
import sys
import threading
import time


def encode(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def info_blocked(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(encode("INFO", "clients"))
    data = b""
    while not data.endswith(b"\r\n\r\n") and b"blocked_clients" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    time.sleep(0.01)
    s.settimeout(0.2)
    try:
        data += s.recv(65536)
    except socket.timeout:
        pass
    s.close()
    for line in data.split(b"\r\n"):
        if line.startswith(b"blocked_clients:"):
            return int(line.split(b":")[1])
    return -1


def park(port, n, ready_file):
    conns = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(encode("BLPOP", "blk:%d" % i, 0))
        conns.append(s)
    while info_blocked(port) < n:
        time.sleep(0.1)
    with open(ready_file, "w") as f:
        f.write("ready\n")
    while True:
        time.sleep(3600)


def lateness(port, n, timeout):
    late = []
    lock = threading.Lock()

    def worker(count, idx):
        s = socket.create_connection(("127.0.0.1", port))
        for j in range(count):
            started = time.monotonic()
            s.sendall(encode("BLPOP", "late:%d:%d" % (idx, j), timeout))
            data = b""
            while not data.endswith(b"\r\n"):
                data += s.recv(1024)
            elapsed = time.monotonic() - started
            with lock:
                late.append((elapsed - float(timeout)) * 1000.0)
        s.close()

    workers = 20
    threads = [threading.Thread(target=worker, args=(n // workers, i)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    late.sort()
    pick = lambda q: late[min(len(late) - 1, int(q * len(late)))]
    print("%.1f %.1f %.1f %d" % (pick(0.5), pick(0.99), late[-1], len(late)))


if __name__ == "__main__":
    if sys.argv[1] == "park":
        park(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "lateness":
        lateness(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
