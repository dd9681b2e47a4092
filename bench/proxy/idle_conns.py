#!/usr/bin/env python3
"""Opens N idle keep-alive connections to host:port (each sends one request
first, so the server has parsed a request on it), holds them for HOLD
seconds, then prints the server PID's RSS. Usage:
  idle_conns.py PORT PID [N=1000] [HOLD=3]"""
import os
import socket
import sys
import time


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    hold = float(sys.argv[4]) if len(sys.argv) > 4 else 3
    before = rss_kb(pid)
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /bench-proxy/_search?size=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    # Read each answer so every connection is idle in keep-alive state.
    for s in socks:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    time.sleep(hold)
    after = rss_kb(pid)
    open_fds = len(os.listdir(f"/proc/{pid}/fd"))
    print(f"idle_connections={n} rss_before_kb={before} rss_after_kb={after} "
          f"rss_after_mb={after / 1024:.1f} server_fds={open_fds}")
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
