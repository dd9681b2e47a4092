#!/usr/bin/env python3
"""Fixed-rate (open-loop) POST load for bench/proxy/write.sh.

Request i is due at start + i / rate, whether or not earlier ones have been
answered (no coordinated omission: a slow answer does not delay the next
request). A pool of keep-alive connections, each on its own thread, takes due
requests from a queue. Latency is measured from the request's due time to
the end of its answer, so time spent queued behind slow answers counts.

Usage: openloop.py URL BODY_FILE RATE SECONDS [CONNECTIONS]
Prints one line: sent, errors, late (due > 5 ms before a connection took it),
achieved rate, and client latency p50/p99/p99.9 in ms.
"""
import http.client
import queue
import sys
import threading
import time
import urllib.parse


def main():
    url, body_file, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 16
    u = urllib.parse.urlsplit(url)
    with open(body_file, "rb") as f:
        body = f.read()
    headers = {"Content-Type": "application/x-ndjson"}
    due_q = queue.Queue()
    lat, errors, late = [], [0], [0]
    lock = threading.Lock()

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        while True:
            due = due_q.get()
            if due is None:
                return
            now = time.monotonic()
            ok = True
            try:
                c.request("POST", u.path, body=body, headers=headers)
                r = c.getresponse()
                r.read()
                ok = 200 <= r.status < 300
            except Exception:  # a broken connection counts as an error; reconnect
                ok = False
                c.close()
                c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            end = time.monotonic()
            with lock:
                lat.append(end - due)
                if not ok:
                    errors[0] += 1
                if now - due > 0.005:
                    late[0] += 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for t in threads:
        t.start()
    start = time.monotonic() + 0.05
    n = int(rate * seconds)
    for i in range(n):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due_q.put(due)
    for _ in threads:
        due_q.put(None)
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - start
    lat.sort()

    def q(p):
        if not lat:
            return float("nan")
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    print("sent %d errors %d late %d rate %.1f/s  client latency p50 %.2f ms p99 %.2f ms p99.9 %.2f ms"
          % (len(lat), errors[0], late[0], len(lat) / elapsed, q(.5), q(.99), q(.999)))


if __name__ == "__main__":
    main()
