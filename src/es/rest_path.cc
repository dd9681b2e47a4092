// The one parser of Elasticsearch REST paths, 6.8 - 9.x, typed and
// typeless. See docs/proxy-capture.md for the full table.
//
// How matching works, and why: Elasticsearch routes a request by trying its
// path trie with literal segments first and wildcards after, and takes the
// first handler that accepts the HTTP method. So `PUT /idx/_doc/_search`
// indexes a document with id "_search" (the _search handler has no PUT),
// while `POST /idx/_doc/_search` searches. The rows below are in that same
// priority order and a row only matches when its method set contains the
// request's method; the first matching row wins, and no match is a read.
//
// Version differences are resolved the same way: POST /idx/_doc/_search is
// a search on 7.x but indexes a document "_search" on 8.x (the typed
// endpoints are gone), so the typeless `/{i}/_doc/{id}` rows come before
// the typed-read rows and the request is a write; on 7.x its answer carries no _seq_no and yields
// nothing.
//
// Bias: when in doubt the table errs towards "write". A read classified as
// a write costs a little overhead; a write classified as a read would be a
// write missing from the log (Invariant 2).
#include <array>
#include <cassert>
#include <string>
#include <string_view>
#include <vector>

#include "es/es.h"
#include "http/http.h"

namespace tandem::es {
namespace {

enum Method : unsigned {
  kGet = 1,
  kHead = 2,
  kPut = 4,
  kPost = 8,
  kDelete = 16,
  kOther = 32,
  kAny = 63,
  kPutPost = kPut | kPost,
  kGetPost = kGet | kPost,
};

unsigned method_bit(std::string_view m) {
  if (m == "GET") return kGet;
  if (m == "HEAD") return kHead;
  if (m == "PUT") return kPut;
  if (m == "POST") return kPost;
  if (m == "DELETE") return kDelete;
  return kOther;
}

// Pattern segments: "{i}" index expression, "{t}" mapping type, "{id}"
// document id, "{n}" any name; anything else is a literal.
bool is_index_segment(std::string_view s) {
  // Index names can't start with '_' (ES rejects them); "_all" is the one
  // underscore expression that names indices.
  return !s.empty() && (s[0] != '_' || s == "_all");
}
bool is_type_segment(std::string_view s) {
  return !s.empty() && (s[0] != '_' || s == "_doc");
}

struct Row {
  unsigned methods;
  std::string_view pattern;  // segments separated by '/', no leading slash
  RestKind cls;
  RestDocOp op;
  std::string_view endpoint;
  bool typed = false;
};

using RC = RestKind;
using DocOp = RestDocOp;

// Typed (6.x) endpoints that live at /{index}/{type}/_x for GET/POST. Listed
// so that POST /idx/type/_search is not taken for "index document _search";
// PUT still falls through to the document row, as in ES.
constexpr std::array<std::string_view, 11> kTypedReadEndpoints = {
    "_search",   "_count",      "_mget",      "_msearch", "_mtermvectors", "_termvectors",
    "_validate", "_field_caps", "_rank_eval", "_query",   "_search_shards"};

const std::vector<Row>& rows() {
  static const std::vector<Row> table = [] {
    std::vector<Row> t = {
        // ---- bulk
        {kPutPost, "_bulk", RC::kBulk, DocOp::kNone, "bulk"},
        {kPutPost, "{i}/_bulk", RC::kBulk, DocOp::kNone, "bulk"},
        {kPutPost, "{i}/{t}/_bulk", RC::kBulk, DocOp::kNone, "bulk", true},
        // ---- multi-document, non-idempotent (any method: a GET is answered
        // 405 by ES anyway, and refusing it costs nothing)
        {kPost, "_reindex/{n}/_rethrottle", RC::kRead, DocOp::kNone, "read.rethrottle"},
        {kAny, "_reindex", RC::kMultiDocWrite, DocOp::kNone, "reindex"},
        {kAny, "{i}/_update_by_query", RC::kMultiDocWrite, DocOp::kNone, "update_by_query"},
        {kAny, "{i}/{t}/_update_by_query", RC::kMultiDocWrite, DocOp::kNone, "update_by_query",
         true},
        {kAny, "{i}/_delete_by_query", RC::kMultiDocWrite, DocOp::kNone, "delete_by_query"},
        {kAny, "{i}/{t}/_delete_by_query", RC::kMultiDocWrite, DocOp::kNone, "delete_by_query",
         true},
        // ---- metadata
        {kPut, "{i}", RC::kMetaWrite, DocOp::kNone, "index.create"},
        {kDelete, "{i}", RC::kMetaWrite, DocOp::kNone, "index.delete"},
        {kPost, "_open", RC::kMetaWrite, DocOp::kNone, "index.open"},
        {kPost, "_close", RC::kMetaWrite, DocOp::kNone, "index.close"},
        {kPost, "{i}/_open", RC::kMetaWrite, DocOp::kNone, "index.open"},
        {kPost, "{i}/_close", RC::kMetaWrite, DocOp::kNone, "index.close"},
        {kPost, "{i}/_freeze", RC::kMetaWrite, DocOp::kNone, "index.freeze"},
        {kPost, "{i}/_unfreeze", RC::kMetaWrite, DocOp::kNone, "index.unfreeze"},
        {kPut, "{i}/_block/{n}", RC::kMetaWrite, DocOp::kNone, "index.block"},
        {kPost, "{i}/_rollover", RC::kMetaWrite, DocOp::kNone, "index.rollover"},
        {kPost, "{i}/_rollover/{n}", RC::kMetaWrite, DocOp::kNone, "index.rollover"},
        {kPutPost, "{i}/_shrink/{n}", RC::kMetaWrite, DocOp::kNone, "index.resize"},
        {kPutPost, "{i}/_split/{n}", RC::kMetaWrite, DocOp::kNone, "index.resize"},
        {kPutPost, "{i}/_clone/{n}", RC::kMetaWrite, DocOp::kNone, "index.resize"},
        {kPutPost, "{i}/_mapping", RC::kMetaWrite, DocOp::kNone, "mapping"},
        {kPutPost, "{i}/_mappings", RC::kMetaWrite, DocOp::kNone, "mapping"},
        {kPutPost, "{i}/_mapping/{t}", RC::kMetaWrite, DocOp::kNone, "mapping", true},
        {kPutPost, "{i}/_mappings/{t}", RC::kMetaWrite, DocOp::kNone, "mapping", true},
        {kPutPost, "{i}/{t}/_mapping", RC::kMetaWrite, DocOp::kNone, "mapping", true},
        {kPutPost, "{i}/{t}/_mappings", RC::kMetaWrite, DocOp::kNone, "mapping", true},
        {kPutPost, "_mapping/{t}", RC::kMetaWrite, DocOp::kNone, "mapping", true},
        {kPutPost, "_mappings/{t}", RC::kMetaWrite, DocOp::kNone, "mapping", true},
        {kPut, "_settings", RC::kMetaWrite, DocOp::kNone, "settings"},
        {kPut, "{i}/_settings", RC::kMetaWrite, DocOp::kNone, "settings"},
        {kPost, "_aliases", RC::kMetaWrite, DocOp::kNone, "aliases"},
        {kPutPost, "_alias", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPutPost, "_alias/{n}", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPutPost, "_aliases/{n}", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPutPost, "{i}/_alias", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPutPost, "{i}/_aliases", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPutPost | kDelete, "{i}/_alias/{n}", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPutPost | kDelete, "{i}/_aliases/{n}", RC::kMetaWrite, DocOp::kNone, "alias"},
        {kPost, "_index_template/_simulate", RC::kRead, DocOp::kNone, "read.simulate"},
        {kPost, "_index_template/_simulate/{n}", RC::kRead, DocOp::kNone, "read.simulate"},
        {kPost, "_index_template/_simulate_index/{n}", RC::kRead, DocOp::kNone, "read.simulate"},
        {kPutPost | kDelete, "_template/{n}", RC::kMetaWrite, DocOp::kNone, "template"},
        {kPutPost | kDelete, "_index_template/{n}", RC::kMetaWrite, DocOp::kNone, "index_template"},
        {kPutPost | kDelete, "_component_template/{n}", RC::kMetaWrite, DocOp::kNone,
         "component_template"},
        {kPut | kDelete, "_data_stream/{n}", RC::kMetaWrite, DocOp::kNone, "data_stream"},
        // ---- single documents, typeless (7.0+; _doc also 6.x)
        {kPutPost, "{i}/_doc/{id}", RC::kDocWrite, DocOp::kIndex, "doc.index"},
        {kDelete, "{i}/_doc/{id}", RC::kDocWrite, DocOp::kDelete, "doc.delete"},
        {kPost, "{i}/_doc", RC::kDocWrite, DocOp::kIndex, "doc.index"},
        {kPutPost, "{i}/_create/{id}", RC::kDocWrite, DocOp::kCreate, "doc.create"},
        {kPost, "{i}/_update/{id}", RC::kDocWrite, DocOp::kUpdate, "doc.update"},
    };
    // ---- typed reads that share the /{i}/{t}/{x} shape with documents
    // The patterns need stable storage: rows keep string_views into them.
    static const std::vector<std::string> typed_reads = [] {
      std::vector<std::string> v;
      for (std::string_view e : kTypedReadEndpoints) v.push_back("{i}/{t}/" + std::string(e));
      return v;
    }();
    for (const std::string& p : typed_reads) {
      t.push_back({kGetPost, p, RC::kRead, DocOp::kNone, "read.typed", true});
    }
    // ---- single documents, typed (6.x; accepted with deprecation by 7.x)
    std::vector<Row> typed = {
        {kPutPost, "{i}/{t}/{id}/_create", RC::kDocWrite, DocOp::kCreate, "doc.create", true},
        {kPost, "{i}/{t}/{id}/_update", RC::kDocWrite, DocOp::kUpdate, "doc.update", true},
        {kPutPost, "{i}/{t}/{id}", RC::kDocWrite, DocOp::kIndex, "doc.index", true},
        {kDelete, "{i}/{t}/{id}", RC::kDocWrite, DocOp::kDelete, "doc.delete", true},
        {kPost, "{i}/{t}", RC::kDocWrite, DocOp::kIndex, "doc.index", true},
    };
    t.insert(t.end(), typed.begin(), typed.end());
    return t;
  }();
  return table;
}

struct CompiledRow {
  Row row;
  std::vector<std::string> parts;  // the pattern's segments
};

// Rows grouped by segment count (a request only ever matches rows of its
// own length), in table order within each group.
constexpr size_t kMaxSegments = 5;
const std::vector<CompiledRow>& compiled_rows(size_t segments) {
  static const std::array<std::vector<CompiledRow>, kMaxSegments + 1> by_length = [] {
    std::array<std::vector<CompiledRow>, kMaxSegments + 1> out;
    for (const Row& r : rows()) {
      std::vector<std::string> parts = http::split_path(r.pattern);
      assert(parts.size() <= kMaxSegments);
      out[parts.size()].push_back({r, std::move(parts)});
    }
    return out;
  }();
  static const std::vector<CompiledRow> kNone;
  return segments <= kMaxSegments ? by_length[segments] : kNone;
}

struct Match {
  const std::string* index = nullptr;
  const std::string* id = nullptr;
  const std::string* type = nullptr;
  const std::string* name = nullptr;
};

bool match_row(const std::vector<std::string>& parts, const std::vector<std::string>& segs,
               Match& m) {
  if (parts.size() != segs.size()) return false;
  Match found;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    const std::string& s = segs[i];
    if (p == "{i}") {
      if (!is_index_segment(s)) return false;
      found.index = &s;
    } else if (p == "{t}") {
      if (!is_type_segment(s)) return false;
      found.type = &s;
    } else if (p == "{id}") {
      found.id = &s;
    } else if (p == "{n}") {
      // any non-empty name (segments are never empty)
      found.name = &s;
    } else if (p != s) {
      return false;
    }
  }
  m = found;
  return true;
}

// A bounded set of read endpoint names for metrics: a client can send any
// path, and metric labels must not grow with it.
std::string read_endpoint(const std::vector<std::string>& segs) {
  static constexpr std::array<std::string_view, 34> kKnown = {"search",
                                                              "count",
                                                              "msearch",
                                                              "mget",
                                                              "cat",
                                                              "cluster",
                                                              "nodes",
                                                              "refresh",
                                                              "flush",
                                                              "forcemerge",
                                                              "cache",
                                                              "pit",
                                                              "analyze",
                                                              "field_caps",
                                                              "validate",
                                                              "explain",
                                                              "termvectors",
                                                              "mtermvectors",
                                                              "stats",
                                                              "segments",
                                                              "recovery",
                                                              "mapping",
                                                              "settings",
                                                              "alias",
                                                              "aliases",
                                                              "template",
                                                              "tasks",
                                                              "snapshot",
                                                              "ingest",
                                                              "source",
                                                              "search_shards",
                                                              "rank_eval",
                                                              "index_template",
                                                              "component_template"};
  for (const std::string& s : segs) {
    if (s.size() < 2 || s[0] != '_') continue;
    std::string_view name = std::string_view(s).substr(1);
    for (std::string_view k : kKnown) {
      if (name == k) return "read." + std::string(k);
    }
    if (name == "doc") return "read.doc";
    return "read.other";
  }
  return segs.empty() ? "read.root" : "read.index";
}

}  // namespace

std::string_view rest_kind_name(RestKind c) {
  switch (c) {
    case RestKind::kRead:
      return "read";
    case RestKind::kDocWrite:
      return "doc_write";
    case RestKind::kBulk:
      return "bulk";
    case RestKind::kMetaWrite:
      return "meta_write";
    case RestKind::kMultiDocWrite:
      return "multi_doc_write";
  }
  return "unknown";
}

RestPath parse_rest_path(std::string_view method, std::string_view target) {
  http::SplitTarget t = http::split_target(target);
  std::vector<std::string> segs = http::split_path(t.path);
  unsigned mbit = method_bit(method);
  RestPath out;
  for (const CompiledRow& cr : compiled_rows(segs.size())) {
    const Row& row = cr.row;
    if ((row.methods & mbit) == 0) continue;
    Match m;
    if (!match_row(cr.parts, segs, m)) continue;
    out.kind = row.cls;
    out.op = row.op;
    out.endpoint = std::string(row.endpoint);
    out.typed = row.typed;
    if (m.index) out.index = IndexName(*m.index);
    if (m.type) out.type = *m.type;
    if (m.name) out.name = *m.name;
    if (out.kind == RestKind::kDocWrite) {
      if (m.id) out.id = DocId(*m.id);
      // 6.x `_doc` was an ordinary type name; a /{i}/_doc/{id}/_update path
      // is still the typed form.
      if (row.typed && m.type && *m.type == "_doc" && segs.size() <= 3) out.typed = false;
      if (out.op == DocOp::kIndex) {
        std::optional<std::string> op_type = http::query_param(t.query, "op_type");
        if (op_type && *op_type == "create") {
          out.op = DocOp::kCreate;
          out.endpoint = "doc.create";
        }
      }
    }
    return out;
  }
  out.endpoint = read_endpoint(segs);
  return out;
}

}  // namespace tandem::es
