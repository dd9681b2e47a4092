#!/usr/bin/env python3
"""Content parity of one index on two clusters: the same ids with the same
_source (compared as parsed JSON). Used where versions cannot be compared:
after a snapshot restore, documents nobody wrote since carry the primary's
internal _version (docs/backfill-snapshot.md).

usage: compare.py BLUE_URL GREEN_URL INDEX     exit 0 when equal
"""
import json
import sys
import urllib.request


def call(url, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def docs(base, index):
    out = {}
    call(f"{base}/{index}/_refresh", "POST")
    page = call(f"{base}/{index}/_search?scroll=2m", "POST",
                {"size": 1000, "sort": ["_doc"], "query": {"match_all": {}}})
    sid = page.get("_scroll_id")
    for _ in range(100000):  # bounded: 100M documents
        hits = page["hits"]["hits"]
        if not hits:
            break
        for h in hits:
            out[h["_id"]] = h["_source"]
        page = call(f"{base}/_search/scroll", "POST", {"scroll": "2m", "scroll_id": sid})
        sid = page.get("_scroll_id", sid)
    try:
        call(f"{base}/_search/scroll", "DELETE", {"scroll_id": [sid]})
    except Exception:  # already gone: nothing to free
        pass
    return out


def main():
    blue, green, index = sys.argv[1:4]
    b, g = docs(blue, index), docs(green, index)
    missing = sorted(set(b) - set(g))
    extra = sorted(set(g) - set(b))
    differ = sorted(i for i in set(b) & set(g) if b[i] != g[i])
    print(f"content: blue={len(b)} green={len(g)} missing={len(missing)} extra={len(extra)} "
          f"differ={len(differ)}")
    for what, ids in (("missing", missing), ("extra", extra), ("differ", differ)):
        for i in ids[:5]:
            print(f"  {what} id={i}")
    return 0 if not (missing or extra or differ) and b else 1


if __name__ == "__main__":
    sys.exit(main())
