// Query parity: replay reads against both clusters, normalize, compare,
// with a noise baseline from asking the primary twice. docs/verify.md,
// "Query parity", is the contract.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "verify/verify.h"

namespace tandem::verify {
namespace {

using nlohmann::json;

std::string_view strip_query(std::string_view path) {
  auto q = path.find('?');
  return q == std::string_view::npos ? path : path.substr(0, q);
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  path = strip_query(path);
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

json shape_of(const json& v) {
  if (v.is_object()) {
    json o = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) o[it.key()] = shape_of(*it);
    return o;
  }
  if (v.is_array()) {
    json a = json::array();
    for (const auto& e : v) {
      json s = shape_of(e);
      if (a.empty() || a.back() != s) a.push_back(std::move(s));
    }
    return a;
  }
  return "?";
}

bool is_float_like(const json& a) {
  return a.is_number_float();
}

void diff_rec(const std::string& path, const json& a, const json& b, double tol,
              std::vector<std::pair<std::string, std::string>>& out) {
  if (a.is_number() && b.is_number()) {
    if (canonical_equal(a, b)) return;
    if (is_float_like(a) || is_float_like(b)) {
      double x = a.get<double>(), y = b.get<double>();
      double scale = std::max({std::fabs(x), std::fabs(y), 1e-12});
      if (std::fabs(x - y) / scale <= tol) return;
    }
  } else if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      std::string p = path.empty() ? k : path + "." + k;
      auto ia = a.find(k);
      auto ib = b.find(k);
      if (ib == b.end()) {
        out.push_back({p, p + ": only on primary " + es::sanitize_snippet(ia->dump(), 60)});
      } else if (ia == a.end()) {
        out.push_back({p, p + ": only on secondary " + es::sanitize_snippet(ib->dump(), 60)});
      } else {
        diff_rec(p, *ia, *ib, tol, out);
      }
    }
    return;
  } else if (a.is_array() && b.is_array()) {
    // Lengths first (one line for "10 hits -> 0"), then the common prefix:
    // listing every hit only one side has would bury the point.
    if (a.size() != b.size()) {
      out.push_back({path, (path.empty() ? "(answer)" : path) + ": " + std::to_string(a.size()) +
                               " items -> " + std::to_string(b.size()) + " items"});
    }
    size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i)
      diff_rec(path + "[" + std::to_string(i) + "]", a[i], b[i], tol, out);
    return;
  } else if (canonical_equal(a, b)) {
    return;
  }
  std::string shown = path.empty() ? "(answer)" : path;
  out.push_back({path, shown + ": " + es::sanitize_snippet(a.dump(), 60) + " -> " +
                           es::sanitize_snippet(b.dump(), 60)});
}

void normalize_search(json& j) {
  for (const char* k : {"took", "_shards", "timed_out", "_scroll_id", "pit_id", "_clusters",
                        "num_reduce_phases", "terminated_early"}) {
    j.erase(k);
  }
  if (j.contains("responses") && j["responses"].is_array()) {  // _msearch
    for (auto& r : j["responses"]) {
      if (r.is_object()) {
        r.erase("status");  // 7.x adds it per response, like 8.x: keep compare symmetric
        normalize_search(r);
      }
    }
  }
  if (j.contains("error") && j["error"].is_object()) {
    // Type and root cause type only: reason texts change between versions.
    json e = {{"error_type", j["error"].value("type", std::string("?"))}};
    const json& rc = j["error"].contains("root_cause") ? j["error"]["root_cause"] : json();
    if (rc.is_array() && !rc.empty() && rc[0].is_object()) {
      e["root_cause"] = rc[0].value("type", std::string("?"));
    }
    j = std::move(e);
    return;
  }
  auto strip_meta = [](json& h) {
    for (const char* k : {"_type", "_version", "_seq_no", "_primary_term", "_node", "_shard"}) {
      h.erase(k);
    }
  };
  strip_meta(j);
  if (!j.contains("hits") || !j["hits"].is_object()) return;
  json& hits = j["hits"];
  if (hits.contains("total") && hits["total"].is_object() && hits["total"].contains("value")) {
    hits["total"] = hits["total"]["value"];
  }
  if (!hits.contains("hits") || !hits["hits"].is_array()) return;
  json& arr = hits["hits"];
  for (auto& h : arr) {
    if (h.is_object()) strip_meta(h);
  }
  // Hits with equal scores may come back in any order (shard order, tie
  // breaking differs across versions): order each run of equal scores by
  // _id. An explicit sort puts its values in "sort"; equal sort values
  // are ties too.
  auto key = [](const json& h) -> json {
    if (!h.is_object()) return json();
    if (h.contains("sort")) return h["sort"];
    return h.contains("_score") ? h["_score"] : json();
  };
  size_t i = 0;
  while (i < arr.size()) {
    size_t j2 = i + 1;
    while (j2 < arr.size() && canonical_equal(key(arr[i]), key(arr[j2]))) ++j2;
    if (j2 - i > 1) {
      std::stable_sort(arr.begin() + static_cast<std::ptrdiff_t>(i),
                       arr.begin() + static_cast<std::ptrdiff_t>(j2),
                       [](const json& x, const json& y) {
                         return x.value("_id", std::string()) < y.value("_id", std::string());
                       });
    }
    i = j2;
  }
}

struct Sent {
  int status = 0;
  json norm;
};

Result<Sent> ask(es::Client& c, const Query& q) {
  http::Request r;
  r.method = q.method;
  r.target = q.path;
  r.body = q.body;
  if (!q.body.empty()) {
    r.content_type =
        endpoint_of(q.path) == "_msearch" ? "application/x-ndjson" : "application/json";
  }
  r.idempotent = true;  // reads only
  TANDEM_ASSIGN_OR_RETURN(auto resp, c.send(std::move(r)));
  return Sent{resp.status, normalize_answer(resp.status, resp.body)};
}

}  // namespace

namespace {

// Calls fn(line number, line) for every non-empty line of a JSON-lines
// text, with CR and surrounding spaces trimmed; stops at fn's first error.
template <class F>
Status for_each_line(std::string_view text, F&& fn) {
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (line.empty()) continue;
    TANDEM_RETURN_IF_ERROR(fn(line_no, line));
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<Query>> parse_queries(std::string_view text) {
  std::vector<Query> out;
  TANDEM_RETURN_IF_ERROR(for_each_line(text, [&](size_t line_no, std::string_view line) -> Status {
    if (line.front() == '#') return Status::ok();
    auto bad = [&](const std::string& why) {
      return Status(Code::kInvalidArgument,
                    "query file line " + std::to_string(line_no) + ": " + why);
    };
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    Query q;
    if (j.contains("method")) {
      if (!j["method"].is_string()) return bad("\"method\" must be a string");
      q.method = j["method"].get<std::string>();
      std::transform(q.method.begin(), q.method.end(), q.method.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    }
    if (!j.contains("path") || !j["path"].is_string()) return bad("needs a string \"path\"");
    q.path = j["path"].get<std::string>();
    if (q.path.empty() || q.path.front() != '/') return bad("\"path\" must start with /");
    if (j.contains("body") && !j["body"].is_null()) {
      q.body = j["body"].is_string() ? j["body"].get<std::string>() : j["body"].dump();
    }
    out.push_back(std::move(q));
    return Status::ok();
  }));
  return out;
}

std::string endpoint_of(std::string_view path) {
  auto segs = segments(path);
  for (auto s : segs) {
    if (!s.empty() && s.front() == '_') return std::string(s);
  }
  return "/" + std::to_string(segs.size());
}

bool is_read(const Query& q) {
  if (q.method == "GET" || q.method == "HEAD") return true;
  if (q.method != "POST") return false;
  static const std::set<std::string> reads = {"_search",  "_msearch",     "_count",
                                              "_mget",    "_field_caps",  "_validate",
                                              "_explain", "_termvectors", "_mtermvectors"};
  auto segs = segments(q.path);
  // POST /idx/_doc/... writes; the read endpoint must be the first
  // underscore segment (and not /_search/scroll-less writes like _update).
  for (auto s : segs) {
    if (!s.empty() && s.front() == '_') return reads.count(std::string(s)) > 0;
  }
  return false;
}

std::string query_shape(const Query& q) {
  std::string out = q.method + " " + endpoint_of(q.path);
  auto qm = q.path.find('?');
  if (qm != std::string::npos) {
    std::vector<std::string> names;
    std::string_view params = std::string_view(q.path).substr(qm + 1);
    size_t i = 0;
    while (i <= params.size()) {
      size_t amp = params.find('&', i);
      if (amp == std::string_view::npos) amp = params.size();
      auto kv = params.substr(i, amp - i);
      auto eq = kv.find('=');
      if (!kv.empty()) names.emplace_back(kv.substr(0, eq));
      i = amp + 1;
    }
    std::sort(names.begin(), names.end());
    out += " ?";
    for (size_t k = 0; k < names.size(); ++k) out += (k ? "&" : "") + names[k];
  }
  if (!q.body.empty()) {
    auto j = json::parse(q.body, nullptr, false);
    if (j.is_discarded()) {
      // NDJSON (_msearch): shape each line.
      std::string lines;
      size_t p = 0;
      while (p < q.body.size()) {
        size_t nl = q.body.find('\n', p);
        if (nl == std::string::npos) nl = q.body.size();
        auto lj = json::parse(q.body.substr(p, nl - p), nullptr, false);
        if (!lj.is_discarded()) lines += " " + shape_of(lj).dump();
        p = nl + 1;
      }
      out += lines;
    } else {
      out += " " + shape_of(j).dump();
    }
  }
  return out;
}

json normalize_answer(int status, std::string_view body) {
  json j = json::parse(body, nullptr, false);
  json out;
  if (j.is_discarded()) {
    out = {{"raw", std::string(body.substr(0, 200))}};
  } else {
    if (j.is_object()) normalize_search(j);
    out = std::move(j);
  }
  return json{{"status", status}, {"body", std::move(out)}};
}

std::vector<std::pair<std::string, std::string>> answer_diff(const json& a, const json& b,
                                                             double tolerance) {
  std::vector<std::pair<std::string, std::string>> out;
  diff_rec("", a, b, tolerance, out);
  return out;
}

double CompareReport::match_rate() const {
  uint64_t n = total - skipped - lagging;
  return n == 0 ? 100.0 : 100.0 * static_cast<double>(matched) / static_cast<double>(n);
}

namespace {

// Differences of `diffs` not explained by the primary's own noise.
std::vector<std::string> beyond_noise(
    const std::vector<std::pair<std::string, std::string>>& diffs,
    const std::vector<std::pair<std::string, std::string>>& noise) {
  std::vector<std::string> real;
  for (const auto& d : diffs) {
    const std::string& path = d.first;
    bool noisy = std::any_of(noise.begin(), noise.end(), [&](const auto& n) {
      return path == n.first ||
             (path.size() > n.first.size() && path.compare(0, n.first.size(), n.first) == 0 &&
              (path[n.first.size()] == '.' || path[n.first.size()] == '['));
    });
    if (!noisy) real.push_back(d.second);
  }
  return real;
}

struct Item {
  const Query* q;
  const CapturedRead* cap;  // null for a query file
};

Result<CompareReport> run_compare(es::Client& p, es::Client& s, const std::vector<Item>& items,
                                  const CompareOptions& o) {
  CompareReport r;
  r.primary = p.label();
  r.secondary = s.label();
  std::map<std::string, ShapeStats> shapes;
  for (const Item& it : items) {
    const Query& q = *it.q;
    ++r.total;
    if (!is_read(q)) {
      ++r.skipped;
      continue;
    }
    TANDEM_ASSIGN_OR_RETURN(Sent a1, ask(p, q));
    TANDEM_ASSIGN_OR_RETURN(Sent a2, ask(p, q));
    TANDEM_ASSIGN_OR_RETURN(Sent b, ask(s, q));
    // Noise: paths where the primary disagrees with itself.
    auto noise = answer_diff(a1.norm, a2.norm, o.tolerance);
    std::vector<std::string> real = beyond_noise(answer_diff(a1.norm, b.norm, o.tolerance), noise);
    bool lagging = false;
    if (!real.empty() && it.cap) {
      // Did the documents behind the answer change since capture? Then a
      // secondary answering as the primary did at capture time is behind,
      // not wrong; one that differs from both gets a grace period to
      // catch up before it counts.
      const json a0 = normalize_answer(it.cap->status, it.cap->answer);
      const bool changed = !beyond_noise(answer_diff(a0, a1.norm, o.tolerance), noise).empty();
      if (changed) {
        if (beyond_noise(answer_diff(a0, b.norm, o.tolerance), noise).empty()) {
          lagging = true;
        } else {
          std::this_thread::sleep_for(o.lag_grace);
          TANDEM_ASSIGN_OR_RETURN(Sent a3, ask(p, q));
          TANDEM_ASSIGN_OR_RETURN(Sent b2, ask(s, q));
          lagging = beyond_noise(answer_diff(a3.norm, b2.norm, o.tolerance), noise).empty();
        }
      }
    }
    std::string shape = query_shape(q);
    ShapeStats& st = shapes[shape];
    if (st.total == 0) {
      st.shape = shape;
      st.endpoint = endpoint_of(q.path);
    }
    ++st.total;
    if (!noise.empty()) {
      ++st.noisy;
      ++r.noisy;
    }
    if (real.empty()) {
      ++st.matched;
      ++r.matched;
      continue;
    }
    if (lagging) {
      ++st.lagging;
      ++r.lagging;
      continue;
    }
    ++st.mismatched;
    ++r.mismatched;
    if (st.example_diff.empty()) {
      if (real.size() > o.max_diff_lines) {
        size_t more = real.size() - o.max_diff_lines;
        real.resize(o.max_diff_lines);
        real.push_back("... " + std::to_string(more) + " more");
      }
      st.example_diff = std::move(real);
      st.example =
          q.method + " " + q.path + (q.body.empty() ? "" : " " + es::sanitize_snippet(q.body, 300));
    }
  }
  for (auto& [k, v] : shapes) r.shapes.push_back(std::move(v));
  std::stable_sort(r.shapes.begin(), r.shapes.end(), [](const ShapeStats& a, const ShapeStats& b) {
    return a.mismatched > b.mismatched;
  });
  return r;
}

}  // namespace

Result<CompareReport> compare(es::Client& p, es::Client& s, const std::vector<Query>& queries,
                              const CompareOptions& o) {
  std::vector<Item> items;
  items.reserve(queries.size());
  for (const Query& q : queries) items.push_back({&q, nullptr});
  return run_compare(p, s, items, o);
}

Result<CompareReport> compare_captured(es::Client& p, es::Client& s, const CapturedReads& reads,
                                       const CompareOptions& o) {
  std::vector<Item> items;
  items.reserve(reads.reads.size());
  for (const CapturedRead& c : reads.reads) items.push_back({&c.query, &c});
  TANDEM_ASSIGN_OR_RETURN(CompareReport r, run_compare(p, s, items, o));
  r.corrupt = reads.corrupt;
  return r;
}

CapturedReads parse_captured_reads(std::string_view text) {
  CapturedReads out;
  size_t line_no = 0;
  auto bad = [&](const std::string& why) {
    ++out.corrupt;
    if (out.problems.size() < 5) {
      out.problems.push_back("line " + std::to_string(line_no) + ": " + why);
    }
  };
  (void)for_each_line(text, [&](size_t n, std::string_view line) -> Status {
    line_no = n;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      bad("not a JSON object (torn or corrupt record)");
      return Status::ok();
    }
    CapturedRead c;
    c.line = line_no;
    auto str = [&](const char* k, std::string* dst) {
      auto f = j.find(k);
      if (f == j.end() || !f->is_string()) return false;
      *dst = f->get<std::string>();
      return true;
    };
    if (j.value("v", 0) != 1) {
      bad("unknown record version (expected \"v\":1)");
      return Status::ok();
    }
    if (!str("method", &c.query.method) || !str("path", &c.query.path) ||
        !str("body", &c.query.body) || !str("answer", &c.answer) || !j.contains("status") ||
        !j["status"].is_number_integer()) {
      bad("missing method, path, body, status or answer");
      return Status::ok();
    }
    if (c.query.path.empty() || c.query.path.front() != '/') {
      bad("path does not start with /");
      return Status::ok();
    }
    c.status = j["status"].get<int>();
    if (j.contains("time_ms") && j["time_ms"].is_number_integer())
      c.time_ms = j["time_ms"].get<int64_t>();
    if (j.contains("loader_lag") && j["loader_lag"].is_number_integer())
      c.loader_lag = j["loader_lag"].get<int64_t>();
    out.reads.push_back(std::move(c));
    return Status::ok();
  });
  return out;
}

std::string render_compare(const CompareReport& r, size_t top) {
  std::map<std::string, std::array<uint64_t, 4>> eps;  // total, matched, noisy, lagging
  for (const auto& s : r.shapes) {
    auto& e = eps[s.endpoint];
    e[0] += s.total;
    e[1] += s.matched;
    e[2] += s.noisy;
    e[3] += s.lagging;
  }
  std::string out = fmt::format("{:<16} {:>8} {:>8} {:>8} {:>8} {:>8}\n", "endpoint", "queries",
                                "matched", "noisy", "lagging", "match");
  for (const auto& [ep, e] : eps) {
    const uint64_t judged = e[0] - e[3];
    out += fmt::format(
        "{:<16} {:>8} {:>8} {:>8} {:>8} {:>7.2f}%\n", ep, e[0], e[1], e[2], e[3],
        judged
            ? std::floor(10000.0 * static_cast<double>(e[1]) / static_cast<double>(judged)) / 100.0
            : 100.0);
  }
  out += "shapes:\n";
  size_t shown = 0;
  for (const auto& s : r.shapes) {
    out += fmt::format("  {:>5}/{:<5} {}{}\n", s.matched, s.total - s.lagging, s.shape,
                       s.lagging ? fmt::format(" ({} lagging)", s.lagging) : std::string());
    if (s.mismatched > 0 && shown < top) {
      ++shown;
      out += "      example: " + s.example + "\n";
      for (const auto& l : s.example_diff) out += "        " + l + "\n";
    }
  }
  out += fmt::format(
      "query match: {:.2f}% ({} of {} queries, {} -> {}); {} mismatched, {} noisy on {}, {} "
      "skipped (not reads)\n",
      std::floor(r.match_rate() * 100.0) / 100.0, r.matched, r.total - r.skipped - r.lagging,
      r.primary, r.secondary, r.mismatched, r.noisy, r.primary, r.skipped);
  if (r.lagging > 0) {
    out += fmt::format(
        "lagging: {} captured read(s) differ because {} was behind (the documents changed after "
        "capture); not counted against it\n",
        r.lagging, r.secondary);
  }
  if (r.corrupt > 0) {
    out += fmt::format("read capture: {} corrupt record(s) skipped\n", r.corrupt);
  }
  return out;
}

json compare_to_json(const CompareReport& r) {
  json shapes = json::array();
  for (const auto& s : r.shapes) {
    shapes.push_back({{"endpoint", s.endpoint},
                      {"shape", s.shape},
                      {"total", s.total},
                      {"matched", s.matched},
                      {"mismatched", s.mismatched},
                      {"noisy", s.noisy},
                      {"lagging", s.lagging},
                      {"example", s.example},
                      {"diff", s.example_diff}});
  }
  return {{"kind", "compare"},          {"ok", r.ok()},
          {"primary", r.primary},       {"secondary", r.secondary},
          {"total", r.total},           {"skipped", r.skipped},
          {"matched", r.matched},       {"mismatched", r.mismatched},
          {"noisy", r.noisy},           {"match_rate", r.match_rate()},
          {"lagging", r.lagging},       {"corrupt_captures", r.corrupt},
          {"shapes", std::move(shapes)}};
}

Status record_compare(state::Store& store, const CompareReport& r, int64_t time_ms) {
  json j = {{"time_ms", time_ms},
            {"queries", r.total - r.skipped},
            {"match_rate", r.match_rate()},
            {"mismatched", r.mismatched},
            {"lagging", r.lagging}};
  return store.put("compare.last", j.dump());
}

Result<std::optional<CompareSummary>> last_compare(state::Store& store) {
  TANDEM_ASSIGN_OR_RETURN(auto v, store.get("compare.last"));
  if (!v) return std::optional<CompareSummary>();
  json j = json::parse(*v, nullptr, false);
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number(); };
  if (!j.is_object() || !num("time_ms") || !num("queries") || !num("match_rate")) {
    return Status(Code::kCorruption,
                  "state store key 'compare.last' is not a compare record: " + v->substr(0, 120));
  }
  CompareSummary s;
  s.time_ms = j["time_ms"].get<int64_t>();
  s.queries = j["queries"].get<int64_t>();
  s.match_rate = j["match_rate"].get<double>();
  if (num("mismatched")) s.mismatched = j["mismatched"].get<int64_t>();
  if (num("lagging")) s.lagging = j["lagging"].get<int64_t>();
  return std::optional<CompareSummary>(s);
}

}  // namespace tandem::verify
