// Client: typed operations over http::Client, with errors that name the
// cluster, index and id.
#include <simdjson.h>

#include <string>
#include <string_view>
#include <utility>

#include "es/es.h"
#include "es/internal.h"

namespace tandem::es {

using http::percent_encode;

namespace {

constexpr std::string_view kIndexKeep = "*,+";  // patterns / lists stay readable

std::string idx_path(const IndexName& idx) {
  return "/" + http::encode_path_segment(idx.get(), kIndexKeep);
}

std::string doc_path(const IndexName& idx, const DocId& id) {
  return idx_path(idx) + "/_doc/" + http::encode_path_segment(id.get());
}

// Appends "k=v" to a target, choosing '?' or '&'.
void add_query(std::string& target, std::string_view k, std::string_view v) {
  target.push_back(target.find('?') == std::string::npos ? '?' : '&');
  target.append(k);
  target.push_back('=');
  target += percent_encode(v);
}

bool is_2xx(int s) {
  return s >= 200 && s < 300;
}

Result<nlohmann::json> parse_json(std::string_view body, std::string_view what) {
  if (body.empty()) return nlohmann::json();
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Status(Code::kProtocol, std::string(what) + " answered with a body that is not JSON: " +
                                       sanitize_snippet(body, 80));
  }
  return j;
}

bool has_error_key(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return !j.is_discarded() && j.is_object() && j.contains("error");
}

std::string str_or(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

uint64_t u64_or(const nlohmann::json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_unsigned() || it->is_number_integer()) return it->get<uint64_t>();
  if (it->is_string()) {
    auto v = detail::parse_int(it->get<std::string>());
    return v && *v > 0 ? static_cast<uint64_t>(*v) : 0;
  }
  return 0;
}

WriteResult write_result(int status, const nlohmann::json& j) {
  WriteResult w;
  w.status = status;
  w.result = str_or(j, "result");
  if (j.contains("_version") && j["_version"].is_number()) w.version = j["_version"].get<int64_t>();
  if (j.contains("_seq_no") && j["_seq_no"].is_number())
    w.seq_no = SeqNo(j["_seq_no"].get<int64_t>());
  if (j.contains("_primary_term") && j["_primary_term"].is_number()) {
    w.primary_term = PrimaryTerm(j["_primary_term"].get<int64_t>());
  }
  return w;
}

// Turns {"index_templates":[{"name":n,"index_template":t}]} into {n: t}.
nlohmann::json list_to_object(const nlohmann::json& j, const char* list, const char* item) {
  nlohmann::json out = nlohmann::json::object();
  if (!j.is_object() || !j.contains(list) || !j[list].is_array()) return out;
  for (const auto& e : j[list]) {
    if (e.is_object() && e.contains("name") && e["name"].is_string() && e.contains(item)) {
      out[e["name"].get<std::string>()] = e[item];
    }
  }
  return out;
}

}  // namespace

Result<http::Response> Client::send(http::Request req) {
  auto r = http_->send(req);
  if (!r.is_ok()) {
    Status s(r.status().code(), "cluster '" + label_ + "': " + r.status().message());
    if (r.status().http_status() != 0) s.with_http_status(r.status().http_status());
    return s;
  }
  return std::move(r).value();
}

Status Client::error_from(const http::Response& r, std::string_view index,
                          std::string_view id) const {
  std::string where = "cluster '" + label_ + "'";
  std::string idx(index);
  if (idx.empty()) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object()) {
      idx = str_or(j["error"], "index");
    }
  }
  if (!idx.empty()) where += " index '" + idx + "'";
  if (!id.empty()) where += " id '" + sanitize_snippet(id, 512) + "'";
  std::string msg = where + ": " + error_summary(r.body) + " (" + std::to_string(r.status) + ")";
  if (r.status == 401) {
    const std::string& configured = http_->options().env_prefix;
    std::string p = configured.empty() ? http::env_prefix_for(label_) : configured;
    msg += ": check " + p + "_USERNAME/" + p + "_PASSWORD or " + p + "_API_KEY";
  }
  Status s(code_for_http_status(r.status), std::move(msg));
  s.with_http_status(r.status);
  return s;
}

namespace {
http::Request make_req(std::string method, std::string target, std::string body = {},
                       bool idempotent = true) {
  http::Request q;
  q.method = std::move(method);
  q.target = std::move(target);
  q.body = std::move(body);
  if (!q.body.empty()) q.content_type = "application/json";
  q.idempotent = idempotent;
  return q;
}
}  // namespace

Result<nlohmann::json> Client::call(const std::string& method, const std::string& target,
                                    const std::optional<nlohmann::json>& body) {
  bool idem = method != "POST";
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req(method, target, body ? body->dump() : "", idem)));
  if (!is_2xx(r.status)) return error_from(r);
  return parse_json(r.body, "cluster '" + label_ + "' " + method + " " + target);
}

Result<Health> Client::health() {
  TANDEM_ASSIGN_OR_RETURN(auto j, call("GET", "/_cluster/health"));
  Health h;
  h.status = str_or(j, "status");
  h.number_of_nodes = static_cast<int>(u64_or(j, "number_of_nodes"));
  h.active_shards = static_cast<int>(u64_or(j, "active_shards"));
  h.unassigned_shards = static_cast<int>(u64_or(j, "unassigned_shards"));
  return h;
}

Result<std::vector<IndexStats>> Client::indices(std::string_view pattern) {
  if (pattern.empty()) pattern = "*";
  // expand_wildcards=open,closed leaves hidden indices out; dot-prefixed
  // (legacy system) indices are dropped too unless the pattern asks for them.
  // Before hidden indices (6.x) _cat/indices refuses the parameter and
  // lists open and closed indices anyway.
  std::string target = "/_cat/indices/" + percent_encode(pattern, kIndexKeep) +
                       "?format=json&bytes=b&h=health,status,index,docs.count,docs.deleted,"
                       "store.size&s=index";
  if (info_.caps.hidden_indices) target += "&expand_wildcards=open,closed";
  TANDEM_ASSIGN_OR_RETURN(auto j, call("GET", target));
  std::vector<IndexStats> out;
  if (!j.is_array()) {
    return Status(Code::kProtocol,
                  "cluster '" + label_ + "' _cat/indices answered with a non-array");
  }
  bool want_dot = pattern.front() == '.';
  for (const auto& row : j) {
    IndexStats s;
    s.index = IndexName(str_or(row, "index"));
    if (s.index.get().empty()) continue;
    if (!want_dot && s.index.get().front() == '.') continue;
    s.health = str_or(row, "health");
    s.status = str_or(row, "status");
    s.docs_count = u64_or(row, "docs.count");
    s.docs_deleted = u64_or(row, "docs.deleted");
    s.store_size_bytes = u64_or(row, "store.size");
    out.push_back(std::move(s));
  }
  return out;
}

Result<nlohmann::json> Client::get_index(const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("GET", idx_path(idx))));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' GET index"));
  if (!j.is_object() || j.size() != 1) {
    return Status(Code::kInvalidArgument, "cluster '" + label_ + "' index '" + idx.get() +
                                              "': resolves to " +
                                              std::to_string(j.is_object() ? j.size() : 0) +
                                              " indices; name one concrete index");
  }
  return j.begin().value();
}

namespace {
Status status_of(Result<nlohmann::json> r) {
  return r.is_ok() ? Status::ok() : r.status();
}
}  // namespace

namespace {

// A typeless mapping has root parameters at the top ("properties",
// "dynamic", ...); a typed one has a single key, its type name, and no type
// is called like a root parameter.
bool is_typeless_mapping(const nlohmann::json& m) {
  for (const char* k : {"properties", "dynamic", "dynamic_templates", "_source", "_routing",
                        "_meta", "date_detection", "numeric_detection", "enabled"}) {
    if (m.contains(k)) return true;
  }
  return false;
}

}  // namespace

Status Client::create_index(const IndexName& idx, const nlohmann::json& body) {
  std::string text;
  auto m = body.is_object() ? body.find("mappings") : body.end();
  if (info_.caps.typed_apis && m != body.end() && m->is_object() && is_typeless_mapping(*m)) {
    // 6.x wants the mapping under its one type; "_doc" is the name its own
    // typeless APIs use.
    nlohmann::json typed = body;
    typed["mappings"] = nlohmann::json{{"_doc", *m}};
    text = typed.dump();
  } else {
    text = body.dump();
  }
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("PUT", idx_path(idx), std::move(text))));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  return Status::ok();
}

Status Client::delete_index(const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("DELETE", idx_path(idx))));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  return Status::ok();
}

Status Client::put_settings(const IndexName& idx, const nlohmann::json& settings) {
  TANDEM_ASSIGN_OR_RETURN(auto r,
                          send(make_req("PUT", idx_path(idx) + "/_settings", settings.dump())));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  return Status::ok();
}

Result<bool> Client::index_exists(const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("HEAD", idx_path(idx))));
  if (r.status == 404) return false;
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  return true;
}

Result<nlohmann::json> Client::get_settings(const IndexName& idx, std::string_view names) {
  TANDEM_ASSIGN_OR_RETURN(
      auto r, send(make_req("GET", idx_path(idx) + "/_settings/" + percent_encode(names, ",*") +
                                       "?flat_settings=true")));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  TANDEM_ASSIGN_OR_RETURN(
      auto j, parse_json(r.body, "cluster '" + label_ + "' index '" + idx.get() + "' settings"));
  if (!j.is_object())
    return Status(Code::kProtocol, "cluster '" + label_ + "': settings of index '" + idx.get() +
                                       "' are not an object");
  nlohmann::json out = nlohmann::json::object();
  for (auto& [name, body] : j.items()) {
    out[name] = body.is_object() && body.contains("settings") && body["settings"].is_object()
                    ? body["settings"]
                    : nlohmann::json::object();
  }
  return out;
}

Result<nlohmann::json> Client::get_aliases() {
  return call("GET", "/_alias");
}

Status Client::update_aliases(const nlohmann::json& actions) {
  nlohmann::json body = actions.is_object() && actions.contains("actions")
                            ? actions
                            : nlohmann::json{{"actions", actions}};
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("POST", "/_aliases", body.dump(), true)));
  if (!is_2xx(r.status)) return error_from(r);
  return Status::ok();
}

Result<nlohmann::json> Client::get_legacy_templates() {
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("GET", "/_template")));
  if (r.status == 404) return nlohmann::json::object();
  if (!is_2xx(r.status)) return error_from(r);
  TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' GET /_template"));
  return j.is_object() ? j : nlohmann::json::object();
}

Status Client::put_legacy_template(const std::string& name, const nlohmann::json& body) {
  return status_of(call("PUT", "/_template/" + percent_encode(name), body));
}

// Composable and component templates share one shape: a GET listing
// {"<list>":[{"name":..,"<item>":{..}}]} and a PUT by name, both absent
// before 7.8.
Result<nlohmann::json> Client::get_composable(const char* path, const char* list,
                                              const char* item) {
  if (!info_.caps.composable_templates) return nlohmann::json::object();
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("GET", path)));
  if (r.status == 404) return nlohmann::json::object();  // none defined
  if (!is_2xx(r.status)) return error_from(r);
  TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' GET " + path));
  return list_to_object(j, list, item);
}

Status Client::put_composable(const char* path, const std::string& name, const nlohmann::json& body,
                              const char* what) {
  if (!info_.caps.composable_templates) {
    return Status(Code::kFailedPrecondition, "cluster '" + label_ + "' (" +
                                                 std::string(flavor_name(info_.flavor)) + " " +
                                                 info_.version.to_string() + ") has no " + what);
  }
  return status_of(call("PUT", std::string(path) + "/" + percent_encode(name), body));
}

Result<nlohmann::json> Client::get_index_templates() {
  return get_composable("/_index_template", "index_templates", "index_template");
}

Status Client::put_index_template(const std::string& name, const nlohmann::json& body) {
  return put_composable("/_index_template", name, body, "composable index templates");
}

Result<nlohmann::json> Client::get_component_templates() {
  return get_composable("/_component_template", "component_templates", "component_template");
}

Status Client::put_component_template(const std::string& name, const nlohmann::json& body) {
  return put_composable("/_component_template", name, body, "component templates");
}

Result<BulkResponse> Client::bulk(const BulkBuilder& b, std::string_view refresh) {
  if (b.empty()) return BulkResponse{};
  // Checked here rather than answered by the cluster: a 6.x cluster rejects
  // the whole bulk without _type, 8.x/OpenSearch 2+ with it.
  const Capabilities& caps = info_.caps;
  if (b.with_type() ? caps.bulk_type_rejected : caps.bulk_type_required) {
    return Status(Code::kInvalidArgument,
                  "cluster '" + label_ + "' (" + std::string(flavor_name(info_.flavor)) + " " +
                      info_.version.to_string() + ") " +
                      (b.with_type() ? "refuses \"_type\" in bulk action lines"
                                     : "needs \"_type\" in bulk action lines") +
                      ": build the bulk with BulkBuilder::for_cluster");
  }
  std::string target = "/_bulk";
  if (!refresh.empty()) add_query(target, "refresh", refresh);
  http::Request q = make_req("POST", target);
  q.body = b.body();  // copy: the builder stays reusable by the caller
  q.content_type = "application/x-ndjson";
  // Externally versioned index/delete actions can be replayed safely: a
  // replay answers 409 per item, which tandem counts as success.
  q.idempotent = b.all_versioned();
  TANDEM_ASSIGN_OR_RETURN(auto r, send(std::move(q)));
  if (!is_2xx(r.status)) return error_from(r);
  auto parsed = parse_bulk_response(r.body);
  if (!parsed.is_ok()) return parsed.status().context("cluster '" + label_ + "'");
  return parsed;
}

Result<uint64_t> Client::count(const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("GET", idx_path(idx) + "/_count")));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' _count"));
  if (!j.is_object() || !j.contains("count") || !j["count"].is_number()) {
    return Status(Code::kProtocol,
                  "cluster '" + label_ + "' index '" + idx.get() +
                      "': _count answer has no count: " + sanitize_snippet(r.body));
  }
  return j["count"].get<uint64_t>();
}

Status Client::refresh(const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("POST", idx_path(idx) + "/_refresh", "", true)));
  if (!is_2xx(r.status)) return error_from(r, idx.get());
  return Status::ok();
}

namespace {
namespace od = simdjson::ondemand;

// Parses a GET /idx/_doc/id answer.
Status parse_get(std::string_view body, Doc* d) {
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  od::object root;
  auto fail = [&](simdjson::error_code e) {
    return Status(Code::kProtocol, std::string("malformed GET document answer: ") +
                                       simdjson::error_message(e) + ": " + sanitize_snippet(body));
  };
  if (auto e = parser.iterate(padded).get(doc)) return fail(e);
  if (auto e = doc.get_object().get(root)) return fail(e);
  if (auto e = detail::parse_doc_fields(root, d)) return fail(e);
  return Status::ok();
}

}  // namespace

Status detail::parse_mget(std::string_view body, const std::string& label, std::vector<Doc>* out) {
  simdjson::padded_string padded(body);
  od::parser parser;
  od::document doc;
  od::object root;
  od::array docs;
  auto fail = [&](simdjson::error_code e) {
    return Status(Code::kProtocol, "cluster '" + label + "': malformed _mget answer: " +
                                       simdjson::error_message(e) + ": " + sanitize_snippet(body));
  };
  if (auto e = parser.iterate(padded).get(doc)) return fail(e);
  if (auto e = doc.get_object().get(root)) return fail(e);
  if (auto e = root.find_field("docs").get_array().get(docs)) return fail(e);
  for (auto entry : docs) {
    od::object o;
    if (auto e = entry.get_object().get(o)) return fail(e);
    Doc d;
    std::string error;
    if (auto e = detail::parse_doc_fields(o, &d, {&error})) return fail(e);
    if (!error.empty()) {
      auto j = nlohmann::json::parse(error, nullptr, false);
      const std::string type = j.is_object() ? str_or(j, "type") : "";
      if (type != "index_not_found_exception") {
        const std::string msg =
            "cluster '" + label + "' index '" + d.index.get() + "' id '" +
            sanitize_snippet(d.id.get(), 512) +
            "': _mget failed for the document: " + error_summary("{\"error\":" + error + "}");
        // A closed index is what a GET answers 400 for: not transient.
        if (type == "index_closed_exception") {
          Status st(code_for_http_status(400), msg);
          st.with_http_status(400);
          return st;
        }
        return Status(Code::kUnavailable, msg);
      }
      d.found = false;
    }
    out->push_back(std::move(d));
  }
  return Status::ok();
}

Result<Doc> Client::get(const IndexName& idx, const DocId& id,
                        const std::optional<std::string>& routing) {
  std::string target = doc_path(idx, id);
  if (routing) add_query(target, "routing", *routing);
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("GET", target)));
  if (r.status == 404 && !has_error_key(r.body)) {
    Doc d;
    d.index = idx;
    d.id = id;
    d.routing = routing;
    d.found = false;
    return d;
  }
  if (!is_2xx(r.status)) return error_from(r, idx.get(), id.get());
  Doc d;
  d.index = idx;
  d.id = id;
  TANDEM_RETURN_IF_ERROR(
      parse_get(r.body, &d).context("cluster '" + label_ + "' index '" + idx.get() + "'"));
  return d;
}

Result<std::vector<Doc>> Client::mget(const std::vector<DocRef>& refs) {
  std::vector<Doc> out(refs.size());
  // JSON strings must be valid UTF-8, and ES ids need not be (the proxy
  // passes them through byte-exact): those are read one by one by URL.
  nlohmann::json docs = nlohmann::json::array();
  std::vector<size_t> batched;
  for (size_t i = 0; i < refs.size(); ++i) {
    const DocRef& r = refs[i];
    if (!simdjson::validate_utf8(r.id.get()) || !simdjson::validate_utf8(r.index.get())) {
      auto one = get(r.index, r.id, r.routing);
      if (!one.is_ok() && one.status().code() == Code::kNotFound) {  // no such index
        out[i].index = r.index;
        out[i].id = r.id;
        out[i].routing = r.routing;
        out[i].found = false;
        continue;
      }
      TANDEM_ASSIGN_OR_RETURN(out[i], std::move(one));
      continue;
    }
    nlohmann::json d = {{"_index", r.index.get()}, {"_id", r.id.get()}};
    if (r.routing) d["routing"] = *r.routing;
    docs.push_back(std::move(d));
    batched.push_back(i);
  }
  if (batched.empty()) return out;
  TANDEM_ASSIGN_OR_RETURN(
      auto r, send(make_req("POST", "/_mget", nlohmann::json{{"docs", docs}}.dump(), true)));
  if (!is_2xx(r.status)) return error_from(r);
  std::vector<Doc> got;
  got.reserve(batched.size());
  TANDEM_RETURN_IF_ERROR(detail::parse_mget(r.body, label_, &got));
  if (got.size() != batched.size()) {
    return Status(Code::kProtocol, "cluster '" + label_ + "': _mget answered " +
                                       std::to_string(got.size()) + " documents for " +
                                       std::to_string(batched.size()) + " asked");
  }
  for (size_t k = 0; k < batched.size(); ++k) {
    Doc& d = got[k];
    const DocRef& ref = refs[batched[k]];
    // Name the document as asked: an error entry may lack _index/_id, and
    // the caller matches by position.
    d.index = ref.index;
    d.id = ref.id;
    if (!d.found) d.routing = ref.routing;
    out[batched[k]] = std::move(d);
  }
  return out;
}

Result<WriteResult> Client::index_doc(const IndexName& idx, const DocId& id,
                                      std::string_view source, std::optional<VersionSpec> v,
                                      const std::optional<std::string>& routing) {
  std::string target = doc_path(idx, id);
  if (v) {
    add_query(target, "version", std::to_string(v->version));
    add_query(target, "version_type", "external");
  }
  if (routing) add_query(target, "routing", *routing);
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("PUT", target, std::string(source), true)));
  if (!is_2xx(r.status)) return error_from(r, idx.get(), id.get());
  TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' index"));
  return write_result(r.status, j);
}

Result<WriteResult> Client::delete_doc(const IndexName& idx, const DocId& id,
                                       std::optional<VersionSpec> v,
                                       const std::optional<std::string>& routing) {
  std::string target = doc_path(idx, id);
  if (v) {
    add_query(target, "version", std::to_string(v->version));
    add_query(target, "version_type", "external");
  }
  if (routing) add_query(target, "routing", *routing);
  TANDEM_ASSIGN_OR_RETURN(auto r, send(make_req("DELETE", target)));
  // A 404 with result=not_found is a delete of a missing document: not an
  // error (with an external version it still leaves a tombstone).
  if (r.status == 404 && !has_error_key(r.body)) {
    TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' delete"));
    return write_result(r.status, j);
  }
  if (!is_2xx(r.status)) return error_from(r, idx.get(), id.get());
  TANDEM_ASSIGN_OR_RETURN(auto j, parse_json(r.body, "cluster '" + label_ + "' delete"));
  return write_result(r.status, j);
}

namespace {

// Version and names from GET /_nodes/_local and the cluster state, for
// clusters that do not serve GET /.
Result<ClusterInfo> detect_without_root(http::Client& http, const std::string& where) {
  http::Request q;
  q.target = "/_nodes/_local?filter_path=cluster_name,nodes.*.version,nodes.*.name";
  auto r = http.send(q);
  if (!r.is_ok()) return r.status().context(where);
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  std::string version;
  if (r->status == 200 && !j.is_discarded() && j.is_object() && j.contains("nodes") &&
      j["nodes"].is_object() && !j["nodes"].empty()) {
    version = str_or(j["nodes"].begin().value(), "version");
  }
  auto v = Version::parse(version);
  if (!v) {
    Status s(r->status == 401 || r->status == 403 ? Code::kUnauthorized : Code::kProtocol,
             where + ": GET / is not served and GET /_nodes/_local answered " +
                 std::to_string(r->status) + ": " + error_summary(r->body));
    s.with_http_status(r->status);
    return s;
  }
  ClusterInfo info;
  info.version = *v;
  info.cluster_name = str_or(j, "cluster_name");
  http::Request u;
  u.target = "/_cluster/state/metadata?filter_path=metadata.cluster_uuid";
  auto ur = http.send(u);
  if (ur.is_ok() && ur->status == 200) {
    auto uj = nlohmann::json::parse(ur->body, nullptr, false);
    if (!uj.is_discarded() && uj.is_object() && uj.contains("metadata") &&
        uj["metadata"].is_object()) {
      info.cluster_uuid = str_or(uj["metadata"], "cluster_uuid");
    }
  }
  info.caps = Capabilities::derive(info.flavor, info.version);
  return info;
}

}  // namespace

Result<std::unique_ptr<Client>> connect(std::string label, std::unique_ptr<http::Client> http) {
  const http::ClientOptions& o = http->options();
  std::string url = detail::url_string(o.url);
  std::string where = "cluster '" + label + "' at " + url;
  // The prefix the credentials really came from, when the caller says so;
  // else the conventional one for the label (TANDEM_BLUE for "blue").
  std::string prefix = o.env_prefix.empty() ? http::env_prefix_for(label) : o.env_prefix;
  http::Request q;
  q.method = "GET";
  q.target = "/";
  auto r = http->send(q);
  if (!r.is_ok()) {
    const Status& s = r.status();
    const std::string& m = s.message();
    switch (s.code()) {
      case Code::kUnavailable:
        return Status(Code::kUnavailable,
                      "cannot reach " + where + ": " + m + " — is it running? check the URL/port" +
                          (o.url.scheme == "http" ? " (if it serves HTTPS, use https://)" : ""));
      case Code::kTimeout:
        return Status(Code::kTimeout, where + " did not answer in time: " + m +
                                          " — check the URL/port and any firewall");
      case Code::kTls: {
        bool plain = m.find("wrong version number") != std::string::npos ||
                     m.find("packet length too long") != std::string::npos ||
                     m.find("unknown protocol") != std::string::npos ||
                     m.find("http request") != std::string::npos;
        if (plain) {
          return Status(Code::kTls, where + ": TLS handshake failed (" + m +
                                        ") — the server seems to speak plain HTTP: use http://");
        }
        return Status(Code::kTls, where + ": TLS verification failed (" + m + ") — set " + prefix +
                                      "_CA_FILE to the cluster's CA certificate (or " + prefix +
                                      "_INSECURE=1 to skip verification)");
      }
      case Code::kProtocol:
        return Status(
            Code::kProtocol,
            where + ": " + m +
                (o.url.scheme == "http" ? " — if the cluster serves HTTPS, use https://" : ""));
      default:
        return s.context(where);
    }
  }
  const http::Response& resp = r.value();
  if (resp.status == 401 || resp.status == 403) {
    std::string verb = o.credentials.kind == http::Credentials::Kind::kNone
                           ? "requires credentials"
                           : "rejected the credentials";
    std::string msg = "cluster '" + label + "' " + verb + " (" + std::to_string(resp.status) +
                      "): set " + prefix + "_USERNAME/" + prefix + "_PASSWORD or " + prefix +
                      "_API_KEY";
    if (resp.status == 403) msg += " (" + error_summary(resp.body) + ")";
    Status s(Code::kUnauthorized, std::move(msg));
    s.with_http_status(resp.status);
    return s;
  }
  if ((resp.status == 405 || resp.status == 404) &&
      (has_error_key(resp.body) || resp.header("X-elastic-product"))) {
    // Elasticsearch without the root endpoint: since 8.10 GET / lives in the
    // rest-root module, absent from minimal distributions (integ-test-zip).
    auto info = detect_without_root(*http, where);
    if (!info.is_ok()) return info.status();
    return std::make_unique<Client>(std::move(label), std::move(http), std::move(info).value());
  }
  if (!is_2xx(resp.status)) {
    if (has_error_key(resp.body)) {
      Client tmp(label, nullptr, ClusterInfo{});
      return tmp.error_from(resp).context("GET / at " + url);
    }
    Code c = (resp.status == 429 || resp.status >= 500) ? Code::kUnavailable : Code::kProtocol;
    Status s(c,
             where + " answered " + std::to_string(resp.status) +
                 " with something that is not Elasticsearch: " + sanitize_snippet(resp.body, 80));
    s.with_http_status(resp.status);
    return s;
  }
  auto info = parse_root(resp.body);
  if (!info.is_ok()) return info.status().context(where);
  return std::make_unique<Client>(std::move(label), std::move(http), std::move(info).value());
}

}  // namespace tandem::es
