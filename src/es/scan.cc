// Full scans: PIT + search_after sorted by [_seq_no, _shard_doc] (ES >=
// 7.12, sliced from 7.15; OpenSearch >= 3.3 through its own PIT endpoints)
// or sliced scroll everywhere else (6.x has no PIT, OpenSearch 2.x no
// _shard_doc tiebreaker). Hits keep _source byte-exact (simdjson
// raw spans).
//
// Retry policy: a PIT search is stateless (same PIT id + search_after gives
// the same page), so it is sent idempotent. A scroll request advances a
// server-side cursor: a blind replay could skip a page, so scroll requests
// are not idempotent (the transport still retries when nothing was sent).
#include <simdjson.h>

#include <string>
#include <string_view>
#include <vector>

#include "es/es.h"
#include "es/internal.h"

namespace tandem::es {
namespace {

namespace od = simdjson::ondemand;

struct Page {
  std::vector<Doc> docs;
  std::string scroll_id;
  std::string pit_id;
  std::string last_sort;  // raw JSON of the last hit's "sort"
  int64_t shards_failed = 0;
  std::string failures;  // raw JSON of _shards.failures
  bool timed_out = false;
};

Status parse_page(std::string_view body, Page* p) {
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  od::object root;
  auto fail = [&](simdjson::error_code e) {
    return Status(Code::kProtocol, std::string("malformed search answer: ") +
                                       simdjson::error_message(e) + ": " +
                                       sanitize_snippet(body, 80));
  };
  if (auto e = parser.iterate(padded).get(doc)) return fail(e);
  if (auto e = doc.get_object().get(root)) return fail(e);
  for (auto f : root) {
    std::string_view key, s;
    if (auto e = f.unescaped_key().get(key)) return fail(e);
    od::value v;
    if (auto e = f.value().get(v)) return fail(e);
    if (key == "_scroll_id") {
      if (v.get_string().get(s) == simdjson::SUCCESS) p->scroll_id = std::string(s);
    } else if (key == "pit_id") {
      if (v.get_string().get(s) == simdjson::SUCCESS) p->pit_id = std::string(s);
    } else if (key == "timed_out") {
      bool b;
      if (v.get_bool().get(b) == simdjson::SUCCESS) p->timed_out = b;
    } else if (key == "_shards") {
      od::object sh;
      if (auto e = v.get_object().get(sh)) return fail(e);
      for (auto g : sh) {
        std::string_view k2;
        if (auto e = g.unescaped_key().get(k2)) return fail(e);
        od::value v2;
        if (auto e = g.value().get(v2)) return fail(e);
        if (k2 == "failed") {
          int64_t n;
          if (v2.get_int64().get(n) == simdjson::SUCCESS) p->shards_failed = n;
        } else if (k2 == "failures") {
          od::array a;
          if (v2.get_array().get(a) == simdjson::SUCCESS &&
              a.raw_json().get(s) == simdjson::SUCCESS) {
            p->failures = std::string(s);
          }
        }
      }
    } else if (key == "hits") {
      od::object hits;
      if (auto e = v.get_object().get(hits)) return fail(e);
      for (auto g : hits) {
        std::string_view k2;
        if (auto e = g.unescaped_key().get(k2)) return fail(e);
        if (k2 != "hits") continue;
        od::array arr;
        if (auto e = g.value().get_array().get(arr)) return fail(e);
        for (auto h : arr) {
          od::object hit;
          if (auto e = h.get_object().get(hit)) return fail(e);
          Doc d;
          if (auto e = detail::parse_doc_fields(hit, &d, {nullptr, &p->last_sort})) {
            return fail(e);
          }
          p->docs.push_back(std::move(d));
        }
      }
    }
  }
  return Status::ok();
}

Status expired(const Client& c, const IndexName& idx, int status) {
  Status s(Code::kFailedPrecondition, "cluster '" + c.label() + "': scroll/PIT for index '" +
                                          idx.get() + "' expired: resume from checkpoint");
  s.with_http_status(status);
  return s;
}

nlohmann::json base_body(const Client& c, const ScanOptions& o) {
  nlohmann::json b;
  b["size"] = o.batch_size;
  b["version"] = true;
  if (o.source && !o.source_excludes.empty()) {
    b["_source"] = {{"excludes", o.source_excludes}};
  } else {
    b["_source"] = o.source;
  }
  if (c.info().caps.seq_no_in_hits) b["seq_no_primary_term"] = true;
  b["query"] = o.query ? *o.query : nlohmann::json{{"match_all", nlohmann::json::object()}};
  if (o.slices > 1) b["slice"] = {{"id", o.slice_id}, {"max", o.slices}};
  return b;
}

// Frees a PIT or scroll context. Already gone (404: expired or freed) is
// fine: the point was to not hold it.
Status release_context(Client& c, const IndexName& idx, const char* target,
                       const nlohmann::json& body) {
  http::Request q;
  q.method = "DELETE";
  q.target = target;
  q.body = body.dump();
  q.content_type = "application/json";
  auto r = c.send(std::move(q));
  if (!r.is_ok()) return r.status();
  if (r->status == 404 || (r->status >= 200 && r->status < 300)) return Status::ok();
  return c.error_from(*r, idx.get());
}

// Checks a search answer: expired contexts, shard failures, timeouts.
Status check_page(Client& c, const IndexName& idx, const http::Response& r, Page* p) {
  if (detail::mentions_missing_search_context(r.body) &&
      (r.status == 404 || r.status >= 400 || r.body.find("\"failed\":0") == std::string::npos)) {
    return expired(c, idx, r.status);
  }
  if (r.status < 200 || r.status >= 300) return c.error_from(r, idx.get());
  TANDEM_RETURN_IF_ERROR(
      parse_page(r.body, p).context("cluster '" + c.label() + "' index '" + idx.get() + "'"));
  if (p->shards_failed > 0) {
    Status s(Code::kUnavailable,
             "cluster '" + c.label() + "' index '" + idx.get() +
                 "': " + std::to_string(p->shards_failed) +
                 " shard(s) failed during scan: " + sanitize_snippet(p->failures, 300));
    s.with_http_status(r.status);
    return s;
  }
  if (p->timed_out) {
    return Status(Code::kTimeout, "cluster '" + c.label() + "' index '" + idx.get() +
                                      "': scan page timed out on the server");
  }
  return Status::ok();
}

class PitScanner final : public Scanner {
 public:
  PitScanner(Client& c, IndexName idx, ScanOptions o, std::string pit, bool opensearch)
      : c_(c), idx_(std::move(idx)), o_(std::move(o)), pit_(std::move(pit)), os_(opensearch) {
    if (o_.search_after) after_ = *o_.search_after;
  }
  ~PitScanner() override { (void)close(); }

  Result<std::vector<Doc>> next() override {
    if (done_) return std::vector<Doc>{};
    if (closed_) {
      return Status(Code::kFailedPrecondition, "scan of index '" + idx_.get() + "' already closed");
    }
    nlohmann::json b = base_body(c_, o_);
    b["pit"] = {{"id", pit_}, {"keep_alive", o_.keep_alive}};
    // _seq_no first: a checkpoint stays exact on a *new* PIT. _shard_doc
    // alone embeds Lucene doc ids, which merges renumber, so resuming with it
    // on another PIT could skip documents. A document's _seq_no only grows,
    // so every document below the checkpoint was already returned (or was
    // rewritten since, and then sorts after it). Ties on _seq_no are across
    // shards only and _shard_doc orders them by shard first; on a new PIT
    // the doc-id part may differ, so at most one document per shard (same
    // _seq_no as the checkpoint) can come back twice -- never a skip.
    // unmapped_type: 7.x refuses to sort an index that has no mapping yet
    // ("No mapping found for [_seq_no]") although _seq_no always exists.
    b["sort"] = nlohmann::json::array(
        {{{"_seq_no", {{"order", "asc"}, {"unmapped_type", "long"}}}}, {{"_shard_doc", "asc"}}});
    b["track_total_hits"] = false;
    if (after_) b["search_after"] = *after_;
    http::Request q;
    q.method = "POST";
    q.target = "/_search";
    q.body = b.dump();
    q.content_type = "application/json";
    q.idempotent = true;
    TANDEM_ASSIGN_OR_RETURN(auto r, c_.send(std::move(q)));
    Page p;
    TANDEM_RETURN_IF_ERROR(check_page(c_, idx_, r, &p));
    if (!p.pit_id.empty()) pit_ = p.pit_id;
    if (p.docs.empty()) {
      done_ = true;
      return std::vector<Doc>{};
    }
    if (p.last_sort.empty()) {
      return Status(Code::kProtocol, "cluster '" + c_.label() + "' index '" + idx_.get() +
                                         "': PIT hits carry no sort values");
    }
    auto sort = nlohmann::json::parse(p.last_sort, nullptr, false);
    if (sort.is_discarded()) return Status(Code::kProtocol, "unparseable sort values in PIT hit");
    after_ = std::move(sort);
    // A short page is the last one: saves a round trip.
    if (static_cast<int>(p.docs.size()) < o_.batch_size) done_ = true;
    return std::move(p.docs);
  }

  std::optional<nlohmann::json> checkpoint() const override { return after_; }
  bool repeatable() const override { return true; }

  Status close() override {
    if (closed_) return Status::ok();
    closed_ = true;
    if (os_) {
      return release_context(c_, idx_, "/_search/point_in_time",
                             nlohmann::json{{"pit_id", nlohmann::json::array({pit_})}});
    }
    return release_context(c_, idx_, "/_pit", nlohmann::json{{"id", pit_}});
  }

 private:
  Client& c_;
  IndexName idx_;
  ScanOptions o_;
  std::string pit_;
  bool os_;  // OpenSearch PIT endpoints
  std::optional<nlohmann::json> after_;
  bool done_ = false;
  bool closed_ = false;
};

class ScrollScanner final : public Scanner {
 public:
  ScrollScanner(Client& c, IndexName idx, ScanOptions o)
      : c_(c), idx_(std::move(idx)), o_(std::move(o)) {}
  ~ScrollScanner() override { (void)close(); }

  Result<std::vector<Doc>> next() override {
    if (done_) return std::vector<Doc>{};
    if (closed_) {
      return Status(Code::kFailedPrecondition, "scan of index '" + idx_.get() + "' already closed");
    }
    http::Request q;
    q.method = "POST";
    q.content_type = "application/json";
    q.idempotent = false;
    if (scroll_id_.empty()) {
      nlohmann::json b = base_body(c_, o_);
      b["sort"] = nlohmann::json::array({"_doc"});
      q.target = "/" + http::encode_path_segment(idx_.get(), "*,+") +
                 "/_search?scroll=" + http::percent_encode(o_.keep_alive);
      q.body = b.dump();
    } else {
      q.target = "/_search/scroll";
      q.body = nlohmann::json{{"scroll", o_.keep_alive}, {"scroll_id", scroll_id_}}.dump();
    }
    TANDEM_ASSIGN_OR_RETURN(auto r, c_.send(std::move(q)));
    Page p;
    TANDEM_RETURN_IF_ERROR(check_page(c_, idx_, r, &p));
    if (!p.scroll_id.empty()) scroll_id_ = p.scroll_id;
    if (p.docs.empty()) {
      done_ = true;
      (void)close();
    }
    return std::move(p.docs);
  }

  std::optional<nlohmann::json> checkpoint() const override { return std::nullopt; }

  Status close() override {
    if (closed_) return Status::ok();
    closed_ = true;
    if (scroll_id_.empty()) return Status::ok();
    return release_context(c_, idx_, "/_search/scroll",
                           nlohmann::json{{"scroll_id", nlohmann::json::array({scroll_id_})}});
  }

 private:
  Client& c_;
  IndexName idx_;
  ScanOptions o_;
  std::string scroll_id_;
  bool done_ = false;
  bool closed_ = false;
};

}  // namespace

Result<std::unique_ptr<Scanner>> Client::scan(const IndexName& idx, const ScanOptions& opts) {
  if (opts.slices < 1 || opts.slice_id < 0 || opts.slice_id >= opts.slices) {
    return Status(Code::kInvalidArgument, "scan of index '" + idx.get() + "': slice " +
                                              std::to_string(opts.slice_id) + " of " +
                                              std::to_string(opts.slices) + " is out of range");
  }
  if (opts.batch_size < 1) {
    return Status(Code::kInvalidArgument,
                  "scan of index '" + idx.get() + "': batch_size must be >= 1");
  }
  const Capabilities& caps = info_.caps;
  bool use_pit = !opts.force_scroll && caps.pit_scan && (opts.slices == 1 || caps.pit_slicing);
  if (!use_pit) {
    return std::unique_ptr<Scanner>(std::make_unique<ScrollScanner>(*this, idx, opts));
  }
  // Elasticsearch: POST /idx/_pit -> {"id":..}; OpenSearch: POST
  // /idx/_search/point_in_time -> {"pit_id":..}. Searching a PIT is the same
  // request on both ("pit":{"id","keep_alive"}, answer "pit_id").
  const bool os = caps.pit_opensearch_api;
  const char* id_key = os ? "pit_id" : "id";
  http::Request q;
  q.method = "POST";
  q.target = "/" + http::encode_path_segment(idx.get(), "*,+") +
             (os ? "/_search/point_in_time?keep_alive=" : "/_pit?keep_alive=") +
             http::percent_encode(opts.keep_alive);
  q.idempotent = true;  // an extra PIT just expires
  TANDEM_ASSIGN_OR_RETURN(auto r, send(std::move(q)));
  if (r.status < 200 || r.status >= 300) return error_from(r, idx.get());
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains(id_key) || !j[id_key].is_string()) {
    return Status(Code::kProtocol,
                  "cluster '" + label_ + "' index '" + idx.get() +
                      "': open PIT answered without an id: " + sanitize_snippet(r.body));
  }
  return std::unique_ptr<Scanner>(
      std::make_unique<PitScanner>(*this, idx, opts, j[id_key].get<std::string>(), os));
}

}  // namespace tandem::es
