#!/usr/bin/env python3
"""Capture holds for real clients (docs/proxy-capture.md, "Real clients").

End to end through the `tandem proxy` binary in front of real blue, with
real Kafka and green: every client our users have drives the same write
scenario (tests/clients/ops.json) in its default configuration, once through
the proxy and once straight at blue on a twin index. Then:

  1. each answer the client got through the proxy equals the one blue gave
     directly (byte for byte for the raw HTTP clients once the index name,
     `took` and auto-generated ids are set aside; as parsed objects for the
     official clients);
  2. `tandem load` applies the log to green, and an independent comparison
     reads every document of both clusters (id, routing, _source parsed as
     JSON) and finds them equal -- content, not versions;
  3. the proxy's /status shows the oversized document went as a reconcile,
     no dead letter, an empty spill journal.

Clients: the official Python client for 7.x (elasticsearch7), python-requests
(asks for gzip by default), curl --compressed, the official Node.js client
7.x, and a Logstash-style gzip-compressed _bulk. Run by tests/clients/run.sh.
"""
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings

import requests
from elasticsearch7 import Elasticsearch
from elasticsearch7.exceptions import TransportError

# elasticsearch7 7.17 warns that `body=` is deprecated; it is still what
# 7.x applications call.
warnings.simplefilter("ignore", DeprecationWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
TANDEM = os.environ["TANDEM_BIN"]
BLUE = os.environ.get("TANDEM_BLUE_URL", "http://127.0.0.1:19200")
GREEN = os.environ.get("TANDEM_GREEN_URL", "http://127.0.0.1:19201")
KAFKA = os.environ.get("TANDEM_KAFKA_BROKERS", "127.0.0.1:19092")
NODE_MODULES = os.environ["TANDEM_CLIENTS_NODE_MODULES"]
OPS = json.load(open(os.path.join(HERE, "ops.json")))["ops"]
RUN = "clients-%d-%d" % (os.getpid(), int(time.time()) % 100000)
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain(method, url, body=None, ctype="application/json"):
    """A request with Python's plain urllib (no gzip): the test's own eyes."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def ndjson(lines):
    return "".join(json.dumps(l, separators=(",", ":")) + "\n" for l in lines)


def create_index(base, index):
    st, body = plain("PUT", base + "/" + index, {
        "settings": {"number_of_shards": 1, "number_of_replicas": 0},
        "mappings": {"properties": {"n": {"type": "integer"}}}})
    if st != 200:
        raise SystemExit("creating %s at %s: %d %s" % (index, base, st, body[:300]))


# ---- the clients ------------------------------------------------------------
# Each runner takes (base URL, index) and returns [(name, status, body)] where
# body is raw text (HTTP clients) or a parsed object (official clients).

def op_request(op, index):
    path = op["path"].replace("INDEX", index)
    if "ndjson" in op:
        return op["method"], path, ndjson(op["ndjson"]).encode(), "application/x-ndjson"
    body = None if "body" not in op else json.dumps(op["body"]).encode()
    return op["method"], path, body, "application/json"


def run_requests(base, index):
    """python-requests: Accept-Encoding: gzip, deflate by default."""
    out = []
    s = requests.Session()
    for op in OPS:
        method, path, body, ctype = op_request(op, index)
        r = s.request(method, base + path, data=body,
                      headers={"Content-Type": ctype} if body else {}, timeout=120)
        out.append((op["name"], r.status_code, r.content.decode(),
                    r.headers.get("Content-Encoding", "")))
    return out


def run_curl(base, index, gzip_requests=False):
    """curl --compressed; with gzip_requests, bodies are sent gzip-compressed
    the way Logstash's elasticsearch output does (http_compression)."""
    out = []
    tmp = tempfile.mkdtemp(prefix="tandem-curl-")
    try:
        for i, op in enumerate(OPS):
            method, path, body, ctype = op_request(op, index)
            cmd = ["curl", "-sS", "--compressed", "-X", method, base + path,
                   "-o", os.path.join(tmp, "out"), "-D", os.path.join(tmp, "hdr"),
                   "-w", "%{http_code}"]
            if body is not None:
                f = os.path.join(tmp, "body%d" % i)
                with open(f, "wb") as fh:
                    fh.write(gzip.compress(body) if gzip_requests else body)
                cmd += ["-H", "Content-Type: " + ctype, "--data-binary", "@" + f]
                if gzip_requests:
                    cmd += ["-H", "Content-Encoding: gzip"]
            code = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            hdr = open(os.path.join(tmp, "hdr")).read().lower()
            enc = re.search(r"^content-encoding:\s*(\S+)", hdr, re.M)
            out.append((op["name"], int(code), open(os.path.join(tmp, "out"), "rb").read().decode(),
                        enc.group(1) if enc else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def route(op, index):
    path, _, query = op["path"].replace("INDEX", index).partition("?")
    params = dict(kv.split("=", 1) for kv in query.split("&")) if query else {}
    seg = [s for s in path.split("/") if s]
    if seg[1] == "_bulk":
        return "bulk", None, params
    if seg[1] in ("_create", "_update"):
        return seg[1][1:], seg[2], params
    if op["method"] == "DELETE":
        return "delete", seg[2], params
    return "index", seg[2] if len(seg) > 2 else None, params


def run_es7(base, index):
    """The official Python client 7.x, default configuration."""
    es = Elasticsearch([base])
    out = []
    for op in OPS:
        api, doc_id, params = route(op, index)
        try:
            if api == "bulk":
                r = es.bulk(body=ndjson(op["ndjson"]), index=index, params=params)
            elif api == "index":
                r = es.index(index=index, id=doc_id, body=op["body"], params=params)
            elif api == "create":
                r = es.create(index=index, id=doc_id, body=op["body"], params=params)
            elif api == "update":
                r = es.update(index=index, id=doc_id, body=op["body"], params=params)
            else:
                r = es.delete(index=index, id=doc_id, params=params)
            status = 201 if r.get("result") == "created" else 200
        except TransportError as e:
            status, r = e.status_code, e.info
        out.append((op["name"], status, r, ""))
    return out


def run_node(base, index):
    env = dict(os.environ, NODE_PATH=NODE_MODULES)
    p = subprocess.run(["node", os.path.join(HERE, "node_client.js"),
                        os.path.join(HERE, "ops.json"), base, index],
                       env=env, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit("node client: " + p.stderr)
    return [(j["name"], j["status"], j["body"], "")
            for j in (json.loads(l) for l in p.stdout.splitlines())]


# ---- comparing answers --------------------------------------------------------

AUTO_ID = re.compile(r'"_id":"[A-Za-z0-9_-]{20}"')
TOOK = re.compile(r'"took":\d+')
INDEX_UUID = re.compile(r'"index_uuid":"[^"]*"')


def normal_text(text, index):
    """Sets aside what differs between two indices by name alone."""
    t = text.replace(index, "INDEX")
    t = TOOK.sub('"took":0', t)
    t = INDEX_UUID.sub('"index_uuid":"UUID"', t)
    return AUTO_ID.sub('"_id":"AUTO"', t)


def normal_obj(obj, index):
    return json.loads(normal_text(json.dumps(obj, separators=(",", ":")), index))


def compare_answers(client, via_proxy, direct, index, direct_index):
    check(len(via_proxy) == len(direct), "%s: %d answers through the proxy, %d direct" %
          (client, len(via_proxy), len(direct)))
    for (name, st, body, enc), (_, dst, dbody, denc) in zip(via_proxy, direct):
        expect = next(o["expect"] for o in OPS if o["name"] == name)
        check(st == expect, "%s %s: status %d, expected %d: %s" % (client, name, st, expect,
                                                                   str(body)[:300]))
        check(st == dst, "%s %s: status %d through the proxy, %d direct" % (client, name, st, dst))
        check(enc == denc, "%s %s: Content-Encoding %r through the proxy, %r direct" %
              (client, name, enc, denc))
        if isinstance(body, str):
            a, b = normal_text(body, index), normal_text(dbody, direct_index)
        else:
            a, b = normal_obj(body, index), normal_obj(dbody, direct_index)
        check(a == b, "%s %s: answer differs from blue's own\n  proxy:  %s\n  direct: %s" %
              (client, name, str(a)[:600], str(b)[:600]))


# ---- the independent content comparison ------------------------------------------

def all_docs(base, index):
    st, _ = plain("POST", base + "/" + index + "/_refresh")
    docs = {}
    st, body = plain("POST", base + "/" + index + "/_search?scroll=1m",
                     {"size": 500, "sort": ["_doc"], "query": {"match_all": {}}})
    if st == 404:
        return None
    page = json.loads(body)
    while True:
        hits = page["hits"]["hits"]
        if not hits:
            break
        for h in hits:
            docs[h["_id"]] = (h.get("_routing"), h["_source"])
        st, body = plain("POST", base + "/_search/scroll",
                         {"scroll": "1m", "scroll_id": page["_scroll_id"]})
        page = json.loads(body)
    plain("DELETE", base + "/_search/scroll", {"scroll_id": page["_scroll_id"]})
    return docs


def compare_clusters(index):
    b, g = all_docs(BLUE, index), all_docs(GREEN, index)
    check(b is not None and len(b) > 0, "%s: no documents on blue" % index)
    check(g is not None, "%s: missing on green" % index)
    if not b or g is None:
        return
    missing = sorted(set(b) - set(g))
    extra = sorted(set(g) - set(b))
    differ = sorted(i for i in set(b) & set(g) if b[i] != g[i])
    check(not missing, "%s: on blue, not on green: %s" % (index, missing[:10]))
    check(not extra, "%s: on green, not on blue: %s" % (index, extra[:10]))
    for i in differ[:10]:
        check(False, "%s/%s differs:\n  blue:  %s\n  green: %s" %
              (index, i, str(b[i])[:300], str(g[i])[:300]))
    print("%s: %d documents on blue, %d on green, %d differ" %
          (index, len(b), len(g), len(differ)), flush=True)


# ---- the run --------------------------------------------------------------------

def main():
    work = tempfile.mkdtemp(prefix="tandem-clients-")
    port, admin = free_port(), free_port()
    topic = RUN
    os.makedirs(os.path.join(work, "proxy"))
    proxy_log = open(os.path.join(work, "proxy.log"), "w")
    proxy = subprocess.Popen(
        [TANDEM, "proxy", "--listen", "127.0.0.1:%d" % port, "--primary", BLUE,
         "--kafka", KAFKA, "--topic", topic, "--data-dir", os.path.join(work, "proxy"),
         "--admin", "127.0.0.1:%d" % admin],
        stdout=proxy_log, stderr=subprocess.STDOUT)
    via = "http://127.0.0.1:%d" % port
    try:
        for _ in range(300):
            try:
                if plain("GET", via + "/_cluster/health")[0] == 200:
                    break
            except OSError:
                pass
            if proxy.poll() is not None:
                raise SystemExit("proxy exited: " + open(os.path.join(work, "proxy.log")).read())
            time.sleep(0.1)
        else:
            raise SystemExit("proxy did not come up")

        clients = [("es7-python", run_es7), ("python-requests", run_requests),
                   ("curl-compressed", run_curl), ("node-7", run_node),
                   ("logstash-gzip", lambda b, i: run_curl(b, i, gzip_requests=True))]
        indices = []
        for name, runner in clients:
            index, direct = "%s-%s" % (RUN, name), "%s-%s-direct" % (RUN, name)
            create_index(via, index)    # through the proxy: a meta event
            create_index(BLUE, direct)  # blue only
            indices.append(index)
            t = time.time()
            compare_answers(name, runner(via, index), runner(BLUE, direct), index, direct)
            print("%s: %d ops through the proxy and direct in %.1f s" %
                  (name, len(OPS), time.time() - t), flush=True)
            plain("DELETE", BLUE + "/" + direct)

        # A document above the log's record limit (Kafka: 16 MiB), sent the
        # way a user would, with python-requests and gzip answers.
        big_index = "%s-big" % RUN
        create_index(via, big_index)
        indices.append(big_index)
        big = {"blob": "x" * (20 << 20), "n": 7}
        r = requests.put(via + "/" + big_index + "/_doc/big", json=big, timeout=300)
        check(r.status_code == 201, "20 MiB document: %d %s" % (r.status_code, r.text[:300]))
        r = requests.put(via + "/" + big_index + "/_doc/after", json={"n": 8}, timeout=60)
        check(r.status_code == 201, "document after the big one: %d" % r.status_code)
        big = None

        st, body = plain("GET", "http://127.0.0.1:%d/status" % admin)
        cap = json.loads(body)["capture"]
        check(cap["refused_total"] >= 1, "the 20 MiB event was not sent as a reconcile: %s" % cap)
        check(cap["dead_letters"] == 0, "dead letters: %s" % cap)
        check(not cap["fail_closed"], "fail closed: %s" % cap)
        check(cap["spilled_total"] == 0, "nothing should need the spill journal: %s" % cap)

        t = time.time()
        load = subprocess.run(
            [TANDEM, "load", "--blue", BLUE, "--green", GREEN, "--kafka", KAFKA,
             "--topic", topic, "--group", RUN, "--state", os.path.join(work, "load.db"),
             "--until-lag-zero", "--progress-s", "0"],
            capture_output=True, text=True, timeout=600)
        check(load.returncode == 0, "tandem load exited %d: %s" % (load.returncode,
                                                                   load.stderr[-2000:]))
        print("load: lag 0 in %.1f s" % (time.time() - t), flush=True)
        for index in indices:
            compare_clusters(index)
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proxy.kill()
        for index in [i for i in locals().get("indices", [])]:
            plain("DELETE", BLUE + "/" + index)
            plain("DELETE", GREEN + "/" + index)
        if FAILURES:
            print("--- proxy log tail ---\n" + open(os.path.join(work, "proxy.log")).read()[-3000:])
        shutil.rmtree(work, ignore_errors=True)

    passed = 1 if not FAILURES else 0
    print("%d passed, %d failed" % (passed, 1 - passed))
    return 0 if not FAILURES else 1


if __name__ == "__main__":
    sys.exit(main())
