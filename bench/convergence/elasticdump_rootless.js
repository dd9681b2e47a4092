// Preloaded into elasticdump (`node --require`) by run.sh. Elasticsearch
// builds without the rest-root module (the integ-test-zip 8.x distribution
// scripts/bootstrap installs) answer `GET /` with 405, and elasticdump reads
// the server version from `GET /` only. This changes nothing but that one
// answer: when `GET /` fails, the version comes from ELASTICDUMP_VERSIONS
// ("http://host:port=8.19.7,..."; run.sh fills it from _nodes). Every data
// request is elasticdump's own, untouched.
const path = require('path')
const Base = require(path.join(process.env.ELASTICDUMP_HOME,
  'node_modules/elasticdump/lib/transports/__es__/_base.js'))
const known = Object.fromEntries((process.env.ELASTICDUMP_VERSIONS || '').split(',')
  .filter(Boolean).map(kv => [kv.slice(0, kv.lastIndexOf('=')), kv.slice(kv.lastIndexOf('=') + 1)]))
const original = Base.prototype._parseVersion
Base.prototype._parseVersion = function (response) {
  const host = this.base && this.base.host
  if (response.statusCode !== 200 && host && known[host]) {
    const v = known[host]
    return { version: v, distribution: 'elasticsearch', distributionVersion: v }
  }
  return original.call(this, response)
}
