// Elasticsearch / OpenSearch client: versions, capabilities, typed
// operations. Every component that talks to a cluster goes through here.
//
// Errors carry the cluster label ("blue", "green", or the URL), the index
// and the document id where there is one, and the HTTP status. A version
// conflict (409) is reported as Code::kConflict, never as a generic failure.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/types.h"
#include "http/http.h"

namespace tandem::es {

enum class Flavor { kElasticsearch, kOpenSearch };
std::string_view flavor_name(Flavor f);

struct Version {
  int major = 0, minor = 0, patch = 0;
  std::string qualifier;  // "SNAPSHOT", "rc1"...; ignored by comparisons
  auto operator<=>(const Version& o) const {
    if (auto c = major <=> o.major; c != 0) return c;
    if (auto c = minor <=> o.minor; c != 0) return c;
    return patch <=> o.patch;
  }
  bool operator==(const Version& o) const { return (*this <=> o) == 0; }
  std::string to_string() const;  // "8.19.7" (qualifier not included)
  // "8.19.7", "9.1.0-SNAPSHOT", "7.10" -> Version; nullopt when malformed.
  static std::optional<Version> parse(std::string_view text);
};

// What the cluster can do; derived from flavor + version only. Every
// version-dependent request this client and its callers build (bulk action
// lines, scan method and sort, PIT endpoints, typed index creation, _cat
// parameters) reads this table. Metadata rules per target (meta::Target)
// and the supported-pair checks (meta::check_pair,
// backfill::check_snapshot_pair) live with their components.
struct Capabilities {
  // PIT exists: ES >= 7.10 (POST /idx/_pit), OpenSearch >= 2.4
  // (POST /idx/_search/point_in_time; see pit_opensearch_api).
  bool pit = false;
  bool pit_opensearch_api = false;    // OpenSearch's PIT endpoints and "pit_id" answers
  bool typed_apis = false;            // 6.x: mapping types in index/mapping APIs
  bool bulk_type_required = false;    // 6.x bulk action lines need "_type"
  bool bulk_type_rejected = false;    // ES 8+ and OpenSearch 2+ refuse "_type" in bulk
  bool compat_headers = false;        // ES 8+ accepts compatible-with=<major-1> media types
  int compatible_with = 0;            // that <major-1> (7 on 8.x, 8 on 9.x); 0 if none
  bool composable_templates = false;  // ES >= 7.8, OpenSearch all
  bool seq_no_in_hits = true;         // seq_no_primary_term on search (>= 6.7)
  bool hidden_indices = true;         // index.hidden and expand_wildcards on _cat (ES >= 7.7, OS)
  // PIT usable for a complete scan with search_after: needs the _shard_doc
  // tiebreaker (ES >= 7.12, OpenSearch >= 3.3). OpenSearch 2.x answers "No
  // mapping found for [_shard_doc]"; there (and without PIT) scans use sliced
  // scroll, which needs no tiebreaker.
  bool pit_scan = false;
  bool pit_slicing = false;  // "slice" inside a PIT search (ES >= 7.15, OpenSearch >= 3.3)
  static Capabilities derive(Flavor f, Version v);
};

struct ClusterInfo {
  Flavor flavor = Flavor::kElasticsearch;
  Version version;
  std::string cluster_name;
  std::string cluster_uuid;
  Capabilities caps;
};

// Parses a GET / answer. Errors (protocol): not JSON, or JSON that is not an
// Elasticsearch / OpenSearch root document.
Result<ClusterInfo> parse_root(std::string_view body);

struct Health {
  std::string status;  // green / yellow / red
  int number_of_nodes = 0;
  int active_shards = 0;
  int unassigned_shards = 0;
};

struct IndexStats {
  IndexName index;
  std::string health;
  std::string status;  // open / close
  uint64_t docs_count = 0;
  uint64_t docs_deleted = 0;
  uint64_t store_size_bytes = 0;
};

// ---- REST paths -------------------------------------------------------------

// What an Elasticsearch / OpenSearch REST request does, read from its method
// and request-target alone (6.8 - 9.x, typed and typeless paths; the table
// and its matching rules are in rest_path.cc). The one parser of ES paths:
// the proxy classifies every request with it, and meta replays captured
// metadata writes by it.
enum class RestKind {
  kRead,           // reads, and everything tandem does not capture
  kDocWrite,       // single-document index / create / update / delete
  kBulk,           // _bulk (any index/type scoping)
  kMetaWrite,      // index create/delete/open/close..., _mapping, _settings,
                   // _alias(es), _template, _index_template, _component_template
  kMultiDocWrite,  // _update_by_query, _delete_by_query, _reindex
};
enum class RestDocOp { kNone, kIndex, kCreate, kUpdate, kDelete };

struct RestPath {
  RestKind kind = RestKind::kRead;
  RestDocOp op = RestDocOp::kNone;  // for kDocWrite
  // Stable, bounded name for metrics and dispatch: "doc.update", "bulk",
  // "mapping", "template", "read.search", ... (a client can send any path;
  // these names never grow with it).
  std::string endpoint;
  std::optional<IndexName> index;   // index expression (or alias / pattern) in the path
  std::optional<DocId> id;          // decoded id for kDocWrite (absent: auto-id)
  std::optional<std::string> type;  // mapping type segment of a typed path
  // The named object of the endpoint: template, alias (comma-separated
  // names), data stream, block, resize/rollover target.
  std::optional<std::string> name;
  bool typed = false;  // 6.x-style /{index}/{type}/... path
};

// `target` is the raw request-target (path and query, still
// percent-encoded); segments are percent-decoded byte-exactly. Never fails:
// anything unknown is a read.
RestPath parse_rest_path(std::string_view method, std::string_view target);
std::string_view rest_kind_name(RestKind k);

// ---- bulk -----------------------------------------------------------------

struct VersionSpec {
  uint64_t version = 0;  // with version_type=external
  // version_type=external_gte: also wins over an EQUAL stored version. Only
  // for writing the primary's own content at the primary's own version
  // (verify --repair of a same-version content difference): a newer
  // version on the target still answers 409.
  bool gte = false;
};

// Builds an NDJSON _bulk body. Sources are appended byte-for-byte; they must
// be a single-line JSON object (ES requires that of bulk sources; a source
// with raw newlines is compacted by the caller or rejected by ES).
//
// Action lines use "routing" / "version" / "version_type" (accepted by 6.x,
// required by 7.x+); with_type adds "_type":"_doc" for 6.x clusters (use
// for_cluster to pick it from the capability table).
// Index names and ids are JSON-escaped by event::append_json_string, the
// one escaper. JSON cannot carry bytes that are not UTF-8: an id with
// invalid UTF-8 has each malformed sequence replaced by U+FFFD, which is
// what Elasticsearch itself stores for such an id sent in a URL (it decodes
// paths as UTF-8 with replacement), so no such id can exist there verbatim.
class BulkBuilder {
 public:
  explicit BulkBuilder(bool with_type = false) : with_type_(with_type) {}
  // The builder a cluster accepts: "_type":"_doc" where it needs one (6.x;
  // on a 6.x index with a custom type name, "_doc" addresses that type),
  // never where it is refused. Client::bulk refuses a mismatch.
  static BulkBuilder for_cluster(const Capabilities& caps) {
    return BulkBuilder(caps.bulk_type_required);
  }
  bool with_type() const { return with_type_; }
  void index(const IndexName& idx, const DocId& id, std::string_view source,
             const std::optional<std::string>& routing = std::nullopt,
             std::optional<VersionSpec> v = std::nullopt);
  void create(const IndexName& idx, const DocId& id, std::string_view source,
              const std::optional<std::string>& routing = std::nullopt);
  void remove(const IndexName& idx, const DocId& id,
              const std::optional<std::string>& routing = std::nullopt,
              std::optional<VersionSpec> v = std::nullopt);
  size_t size() const { return count_; }
  size_t bytes() const { return body_.size(); }
  bool empty() const { return count_ == 0; }
  const std::string& body() const { return body_; }
  // True when every action is an index/delete with an external version:
  // such a bulk may be retried after bytes were sent (a replay yields 409s,
  // which tandem counts as success), so Client::bulk marks it idempotent.
  bool all_versioned() const { return count_ > 0 && unversioned_ == 0; }
  void clear() {
    body_.clear();
    count_ = 0;
    unversioned_ = 0;
  }

 private:
  void action(std::string_view op, const IndexName& idx, const DocId& id,
              const std::optional<std::string>& routing, std::optional<VersionSpec> v);
  bool with_type_;
  std::string body_;
  size_t count_ = 0;
  size_t unversioned_ = 0;
};

struct BulkItem {
  std::string op;  // index / create / update / delete
  int status = 0;
  IndexName index;
  DocId id;
  int64_t version = -1;
  SeqNo seq_no{-1};
  PrimaryTerm primary_term{-1};
  std::string result;      // created / updated / deleted / not_found / noop
  std::string error_type;  // empty when no error
  std::string error_reason;
  bool has_error = false;  // an "error" member was present
  // The "get" member an update answers with when _source was asked for:
  // get._source's raw bytes when found, and the member's byte range in the
  // parsed body together with one separating comma, so that erasing
  // [get_begin, get_end) leaves a well-formed object and every other byte as
  // the cluster sent it (the proxy cuts what it injected out of the
  // client's answer).
  bool has_get = false;
  std::optional<std::string> get_source;
  size_t get_begin = 0;
  size_t get_end = 0;
  bool ok() const { return status >= 200 && status < 300; }
  bool version_conflict() const { return status == 409; }
};

struct BulkResponse {
  bool errors = false;
  int64_t took_ms = 0;
  std::vector<BulkItem> items;
};

// Parses a _bulk response body with simdjson On Demand: the one _bulk answer
// parser, used by the client's bulk() and by the proxy for every bulk it
// captures (on the request path). Does not need a client. kProtocol when the
// body is not a bulk answer (not JSON, an error document, no "items", an
// item that is not exactly one of index/create/update/delete).
Result<BulkResponse> parse_bulk_response(std::string_view body);
// A single-document write answer (index, create, update, delete): the same
// members as a bulk item's inner object, read by the same code. `op` is
// empty and `status` 0 (the HTTP status is the caller's).
Result<BulkItem> parse_write_response(std::string_view body);

// ---- documents and scan ---------------------------------------------------

struct Doc {
  IndexName index;
  DocId id;
  std::optional<std::string> routing;
  SeqNo seq_no{-1};
  PrimaryTerm primary_term{-1};
  int64_t version = -1;
  std::string source;  // raw _source bytes as the cluster returned them
  bool found = true;
};

// A document to read with Client::mget.
struct DocRef {
  IndexName index;
  DocId id;
  std::optional<std::string> routing;
};

struct ScanOptions {
  int slice_id = 0;  // this scanner's slice
  int slices = 1;    // total slices (1 = no slicing)
  int batch_size = 1000;
  std::string keep_alive = "5m";
  // Resume point for PIT + search_after: the sort values of the last hit
  // returned before a checkpoint (JSON array). Ignored for scroll. Valid on
  // a new PIT too (after the old one expired): PIT scans sort by
  // [_seq_no, _shard_doc], so documents not yet returned all sort after it
  // and none is skipped; documents with the checkpoint's _seq_no (at most
  // one per shard, e.g. the checkpoint document itself) may be returned
  // again, which versioned writes make harmless.
  std::optional<nlohmann::json> search_after;
  std::optional<nlohmann::json> query;  // default match_all
  // Use sliced scroll even where PIT is available (tests; comparing paths).
  bool force_scroll = false;
  // Fetch each hit's _source. Off for scans that need only metadata (id,
  // routing, _seq_no, _version: verify --quick), so whole documents are not
  // pulled over the wire; Doc::source is then empty. "stored_fields" stays
  // at its default, so _routing is still returned.
  bool source = true;
  // With `source`: top-level or dotted _source paths the cluster leaves out
  // of each hit ("_source": {"excludes": [...]}), so fields a comparison
  // ignores are not shipped.
  std::vector<std::string> source_excludes;
};

// One slice of a full scan of an index, with _seq_no / _primary_term on
// every hit. PIT + search_after where supported, sliced scroll otherwise.
class Scanner {
 public:
  virtual ~Scanner() = default;
  // Next page; an empty vector means the slice is done.
  virtual Result<std::vector<Doc>> next() = 0;
  // The search_after sort values of the last returned hit (PIT mode), to
  // checkpoint; nullopt in scroll mode.
  virtual std::optional<nlohmann::json> checkpoint() const = 0;
  // True when a next() that failed can simply be called again and asks for
  // the same page (PIT: the PIT id and search_after are unchanged by a
  // failure, and a PIT search is stateless). False for scroll: a failed
  // scroll request may have advanced the server-side cursor, so asking
  // again could skip a page.
  virtual bool repeatable() const { return false; }
  // Releases the PIT / scroll context. Idempotent; also run by destructor.
  virtual Status close() = 0;
};

struct WriteResult {
  int status = 0;
  std::string result;
  int64_t version = -1;
  SeqNo seq_no{-1};
  PrimaryTerm primary_term{-1};
};

// Concrete client over an http::Client. Construct through connect(); the
// public constructor exists so tests can run it over a fake transport.
class Client final {
 public:
  Client(std::string label, std::unique_ptr<http::Client> http, ClusterInfo info)
      : label_(std::move(label)), http_(std::move(http)), info_(std::move(info)) {}

  const std::string& label() const { return label_; }
  const ClusterInfo& info() const { return info_; }
  http::Client& transport() { return *http_; }

  // Raw escape hatch: errors carry cluster label; non-2xx are errors with
  // the ES error type and reason extracted from the body.
  Result<nlohmann::json> call(const std::string& method, const std::string& target,
                              const std::optional<nlohmann::json>& body = std::nullopt);

  Result<Health> health();
  Result<std::vector<IndexStats>> indices(std::string_view pattern = "*");

  // Metadata. get_index returns {"settings":..,"mappings":..,"aliases":..}
  // for one concrete index.
  Result<nlohmann::json> get_index(const IndexName& idx);
  // On a 6.x cluster a typeless mapping is sent under the one type "_doc".
  Status create_index(const IndexName& idx, const nlohmann::json& body);
  Status delete_index(const IndexName& idx);
  Status put_settings(const IndexName& idx, const nlohmann::json& settings);
  // HEAD /idx: whether the index (or an alias of that name) exists.
  Result<bool> index_exists(const IndexName& idx);
  // GET /idx/_settings/<names>?flat_settings=true: the named settings
  // (comma-separated, wildcards allowed) of every index `idx` resolves to,
  // as index -> {flat key -> value}. kNotFound when there is no such index.
  Result<nlohmann::json> get_settings(const IndexName& idx, std::string_view names);
  Result<nlohmann::json> get_aliases();                  // GET /_alias
  Status update_aliases(const nlohmann::json& actions);  // POST /_aliases
  Result<nlohmann::json> get_legacy_templates();         // GET /_template
  Status put_legacy_template(const std::string& name, const nlohmann::json& body);
  Result<nlohmann::json> get_index_templates();  // GET /_index_template ({} if unsupported)
  Status put_index_template(const std::string& name, const nlohmann::json& body);
  Result<nlohmann::json> get_component_templates();  // GET /_component_template
  Status put_component_template(const std::string& name, const nlohmann::json& body);

  // Documents.
  Result<BulkResponse> bulk(const BulkBuilder& b, std::string_view refresh = "");
  Result<uint64_t> count(const IndexName& idx);
  Status refresh(const IndexName& idx);
  // found=false when the document does not exist (404 is not an error).
  Result<Doc> get(const IndexName& idx, const DocId& id,
                  const std::optional<std::string>& routing = std::nullopt);
  // POST /_mget: one Doc per ref, in order; found=false for a missing
  // document or index. A per-document failure fails the call: a closed
  // index as a GET would (400), anything else (a shard not available) as
  // kUnavailable, to be retried. Each Doc carries its ref's index, id (and, when
  // absent, routing), so callers match answers by position.
  Result<std::vector<Doc>> mget(const std::vector<DocRef>& refs);
  // PUT /idx/_doc/id, optionally version_type=external. A 409 is
  // Code::kConflict with the index and id in the message.
  Result<WriteResult> index_doc(const IndexName& idx, const DocId& id, std::string_view source,
                                std::optional<VersionSpec> v = std::nullopt,
                                const std::optional<std::string>& routing = std::nullopt);
  Result<WriteResult> delete_doc(const IndexName& idx, const DocId& id,
                                 std::optional<VersionSpec> v = std::nullopt,
                                 const std::optional<std::string>& routing = std::nullopt);

  // The Scanner borrows this Client: it must not outlive it.
  Result<std::unique_ptr<Scanner>> scan(const IndexName& idx, const ScanOptions& opts);

  // Sends one request and maps transport failures to a Status naming the
  // cluster. Any HTTP status is returned as a Response.
  Result<http::Response> send(http::Request req);
  // Turns a non-2xx answer into a Status: "cluster 'L' index 'I' id 'D':
  // <type>: <reason> (<status>)" with the Code mapped from the status.
  Status error_from(const http::Response& r, std::string_view index = {},
                    std::string_view id = {}) const;

 private:
  Result<nlohmann::json> get_composable(const char* path, const char* list, const char* item);
  Status put_composable(const char* path, const std::string& name, const nlohmann::json& body,
                        const char* what);

  std::string label_;
  std::unique_ptr<http::Client> http_;
  ClusterInfo info_;
};

// Connects and detects flavor/version from GET /. Bad input gets one
// actionable line: unreachable, wrong scheme, TLS failure, 401/403, a
// non-JSON or non-Elasticsearch answer.
Result<std::unique_ptr<Client>> connect(std::string label, http::ClientOptions opts);
// Same over an existing transport (tests, custom transports).
Result<std::unique_ptr<Client>> connect(std::string label, std::unique_ptr<http::Client> http);

// Maps an HTTP status to a Code: 409 conflict, 404 not_found, 401/403
// unauthorized, 429/5xx unavailable, 408 timeout, 413 resource_exhausted,
// other 4xx invalid_argument.
Code code_for_http_status(int status);
// A failure worth asking again: transport errors (refused, reset, timeout)
// and 408/429/5xx answers. Everything else (4xx, a parse error, an expired
// context) would fail the same way again.
bool is_transient(const Status& s);
// Extracts "<type>: <reason>" from an Elasticsearch error body, else a
// sanitized prefix of the body.
std::string error_summary(std::string_view body);
// First n bytes of text with control / non-ASCII bytes replaced, for
// messages about unexpected answers.
std::string sanitize_snippet(std::string_view text, size_t n = 80);

}  // namespace tandem::es
