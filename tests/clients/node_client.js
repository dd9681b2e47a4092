// Drives tests/clients/ops.json through the official Elasticsearch Node.js
// client 7.x in its default configuration, against one base URL and index.
// Prints one JSON line per op: {"name", "status", "body"}.
//   node node_client.js OPS_JSON BASE_URL INDEX
'use strict';
const fs = require('fs');
const { Client } = require('@elastic/elasticsearch');

const [opsFile, base, index] = process.argv.slice(2);
const ops = JSON.parse(fs.readFileSync(opsFile, 'utf8')).ops;
const client = new Client({ node: base });

// "/INDEX/_update/1?_source=a" -> { api, id, params }
function route(op) {
  const [path, query] = op.path.replace('INDEX', index).split('?');
  const params = {};
  if (query) {
    for (const kv of query.split('&')) {
      const [k, v] = kv.split('=');
      params[k] = decodeURIComponent(v);
    }
  }
  const seg = path.split('/').filter(Boolean);
  const out = { index, params, id: undefined, api: undefined };
  if (seg[1] === '_bulk') out.api = 'bulk';
  else if (seg[1] === '_create') { out.api = 'create'; out.id = seg[2]; }
  else if (seg[1] === '_update') { out.api = 'update'; out.id = seg[2]; }
  else if (op.method === 'DELETE') { out.api = 'delete'; out.id = seg[2]; }
  else { out.api = 'index'; out.id = seg[2]; }
  return out;
}

async function run() {
  for (const op of ops) {
    const r = route(op);
    const req = Object.assign({ index: r.index }, r.params);
    if (r.id !== undefined) req.id = r.id;
    if (r.api === 'bulk') req.body = op.ndjson;
    else if (op.body !== undefined) req.body = op.body;
    let status, body;
    try {
      const res = await client[r.api](req);
      status = res.statusCode;
      body = res.body;
    } catch (e) {
      if (!e.meta || !e.meta.statusCode) throw e;
      status = e.meta.statusCode;
      body = e.meta.body;
    }
    process.stdout.write(JSON.stringify({ name: op.name, status, body }) + '\n');
  }
}

run().catch((e) => {
  process.stderr.write('node client failed: ' + (e.stack || e) + '\n');
  process.exit(1);
});
