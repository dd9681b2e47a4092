#!/usr/bin/env python3
"""Prebuilt bulk bodies of a product catalog for the convergence benchmark.

  gen_catalog.py DOCS OUT_DIR [BULK_DOCS] [SEED]

Writes OUT_DIR/bulk-NNNNN.ndjson (BULK_DOCS documents each, `index` actions
with explicit ids p00000000.., no index name: post them to /INDEX/_bulk) and
OUT_DIR/mapping.json (settings + mappings: 2 shards, 0 replicas). Documents
are deterministic for (DOCS, SEED) and about 1 KB of _source each: text
(name, description), keywords (brand, category, tags, seller), numbers
(price, stock, rating, weight), dates (created, updated), an object
(attributes) and an array of objects (offers, mapped as plain objects, not
nested). Prints the document count, the average _source size and the total.
"""
import json
import os
import random
import sys

BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
          "Cyberdyne", "Soylent", "Vandelay", "Massive", "Oscorp", "Wonka", "Aperture"]
CATEGORIES = ["laptops", "phones", "audio", "cameras", "tv", "gaming", "wearables",
              "kitchen", "garden", "books", "toys", "sports", "office", "lighting", "tools"]
COLORS = ["black", "white", "silver", "red", "blue", "green", "graphite", "gold", "rose"]
MATERIALS = ["aluminium", "plastic", "steel", "glass", "wood", "fabric", "carbon", "leather"]
SELLERS = ["north-shop", "south-store", "east-market", "west-deals", "central-outlet",
           "harbor-goods", "summit-supply", "river-retail"]
WORDS = ("ultra pro max mini smart wireless quiet compact travel studio eco classic turbo "
         "lite prime nova flex zen battery display sensor premium durable portable "
         "lightweight ergonomic waterproof adjustable rechargeable bluetooth charging fast "
         "powerful reliable elegant modern sleek versatile efficient precise bright clear "
         "sound picture quality design comfort performance storage memory warranty "
         "included accessories bundle edition series model generation upgrade").split()

SETTINGS = {
    "settings": {"number_of_shards": 2, "number_of_replicas": 0},
    "mappings": {"properties": {
        "sku": {"type": "keyword"},
        "name": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
        "brand": {"type": "keyword"},
        "category": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "price": {"type": "double"},
        "stock": {"type": "integer"},
        "rating": {"type": "float"},
        "reviews": {"type": "integer"},
        "weight_kg": {"type": "float"},
        "created": {"type": "date"},
        "updated": {"type": "date"},
        "active": {"type": "boolean"},
        "attributes": {"properties": {
            "color": {"type": "keyword"}, "material": {"type": "keyword"},
            "size": {"type": "keyword"}}},
        "offers": {"properties": {
            "seller": {"type": "keyword"}, "price": {"type": "double"},
            "shipping_days": {"type": "integer"}}},
        "description": {"type": "text"},
    }},
}


def doc(n, r):
    words = r.choices(WORDS, k=r.randint(60, 76))
    y, mo, d = 2015 + r.randrange(11), 1 + r.randrange(12), 1 + r.randrange(28)
    return {
        "sku": f"SKU-{n:08d}",
        "name": f"{r.choice(BRANDS)} {r.choice(WORDS)} {r.choice(WORDS)} {n}",
        "brand": r.choice(BRANDS),
        "category": r.choice(CATEGORIES),
        "tags": r.sample(WORDS, 3),
        "price": round(r.uniform(5, 2500), 2),
        "stock": r.randrange(1000),
        "rating": round(r.uniform(1, 5), 1),
        "reviews": r.randrange(20000),
        "weight_kg": round(r.uniform(0.05, 40), 2),
        "created": f"{y}-{mo:02d}-{d:02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "updated": f"2026-{mo:02d}-{d:02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:00Z",
        "active": r.random() < 0.9,
        "attributes": {"color": r.choice(COLORS), "material": r.choice(MATERIALS),
                       "size": r.choice(["XS", "S", "M", "L", "XL"])},
        "offers": [{"seller": r.choice(SELLERS), "price": round(r.uniform(5, 2500), 2),
                    "shipping_days": 1 + r.randrange(10)} for _ in range(1 + r.randrange(3))],
        "description": " ".join(words),
    }


def main():
    n = int(sys.argv[1])
    out = sys.argv[2]
    per = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 42
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "mapping.json"), "w") as f:
        json.dump(SETTINGS, f)
    r = random.Random(seed)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    src_bytes = 0
    for start in range(0, n, per):
        lines = []
        for i in range(start, min(n, start + per)):
            s = dumps(doc(i, r))
            src_bytes += len(s.encode())
            lines.append('{"index":{"_id":"p%08d"}}\n%s\n' % (i, s))
        with open(os.path.join(out, "bulk-%05d.ndjson" % (start // per)), "w") as f:
            f.write("".join(lines))
    print(f"docs={n} avg_source_bytes={src_bytes / max(n, 1):.0f} "
          f"source_total_mb={src_bytes / 1e6:.1f} bulk_files={(n + per - 1) // per}")


if __name__ == "__main__":
    main()
