// Escaping, encoding and error-message helpers for the es component.
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "es/es.h"
#include "es/internal.h"

namespace tandem::es {
namespace detail {

std::string url_string(const http::Url& u) {
  std::string host = u.host;
  if (host.find(':') != std::string::npos && (host.empty() || host.front() != '[')) {
    host = "[" + host + "]";
  }
  std::string s = u.scheme + "://" + host;
  if (u.port != 0) s += ":" + std::to_string(u.port);
  s += u.base_path;
  return s;
}

std::optional<int64_t> parse_int(std::string_view s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool mentions_missing_search_context(std::string_view body) {
  return body.find("search_context_missing_exception") != std::string_view::npos ||
         body.find("No search context found") != std::string_view::npos;
}

simdjson::error_code parse_doc_fields(simdjson::ondemand::object root, Doc* d, DocExtras x) {
  namespace od = simdjson::ondemand;
  for (auto f : root) {
    std::string_view key;
    if (auto e = f.unescaped_key().get(key)) return e;
    od::value v;
    if (auto e = f.value().get(v)) return e;
    std::string_view s;
    int64_t n;
    bool b;
    if (key == "_index") {
      if (v.get_string().get(s) == simdjson::SUCCESS) d->index = IndexName(std::string(s));
    } else if (key == "_id") {
      if (v.get_string().get(s) == simdjson::SUCCESS) d->id = DocId(std::string(s));
    } else if (key == "_routing") {
      if (v.get_string().get(s) == simdjson::SUCCESS) d->routing = std::string(s);
    } else if (key == "_seq_no") {
      if (v.get_int64().get(n) == simdjson::SUCCESS) d->seq_no = SeqNo(n);
    } else if (key == "_primary_term") {
      if (v.get_int64().get(n) == simdjson::SUCCESS) d->primary_term = PrimaryTerm(n);
    } else if (key == "_version") {
      if (v.get_int64().get(n) == simdjson::SUCCESS) d->version = n;
    } else if (key == "found") {
      if (v.get_bool().get(b) == simdjson::SUCCESS) d->found = b;
    } else if (key == "_source") {
      od::object src;
      if (auto e = v.get_object().get(src)) return e;
      if (auto e = src.raw_json().get(s)) return e;
      d->source = std::string(s);
    } else if (key == "sort" && x.sort != nullptr) {
      od::array sa;
      if (auto e = v.get_array().get(sa)) return e;
      if (auto e = sa.raw_json().get(s)) return e;
      *x.sort = std::string(s);
    } else if (key == "error" && x.error != nullptr) {
      od::object err;
      if (auto e = v.get_object().get(err)) return e;
      if (auto e = err.raw_json().get(s)) return e;
      *x.error = std::string(s);
    }
  }
  return simdjson::SUCCESS;
}

}  // namespace detail

std::string sanitize_snippet(std::string_view text, size_t n) {
  std::string out;
  size_t limit = text.size() < n ? text.size() : n;
  out.reserve(limit + 3);
  for (size_t i = 0; i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n' || c == '\r' || c == '\t') {
      out.push_back(' ');
    } else if (c < 0x20 || c >= 0x7F) {
      out.push_back('?');
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (text.size() > n) out += "...";
  if (text.empty()) out = "<empty body>";
  return out;
}

Code code_for_http_status(int status) {
  if (status == 409) return Code::kConflict;
  if (status == 404) return Code::kNotFound;
  if (status == 401 || status == 403) return Code::kUnauthorized;
  if (status == 429 || status >= 500) return Code::kUnavailable;
  if (status == 408) return Code::kTimeout;
  if (status == 413) return Code::kResourceExhausted;
  if (status >= 400) return Code::kInvalidArgument;
  return Code::kProtocol;  // 1xx/3xx where an answer was expected
}

bool is_transient(const Status& s) {
  if (s.is_ok()) return false;
  int h = s.http_status();
  if (h == 429 || h == 408 || h >= 500) return true;
  if (h != 0) return false;
  return s.code() == Code::kUnavailable || s.code() == Code::kTimeout;
}

namespace {
std::string type_reason(const nlohmann::json& e) {
  std::string type =
      e.contains("type") && e["type"].is_string() ? e["type"].get<std::string>() : "";
  std::string reason =
      e.contains("reason") && e["reason"].is_string() ? e["reason"].get<std::string>() : "";
  if (reason.empty() && e.contains("caused_by") && e["caused_by"].is_object()) {
    return type.empty() ? type_reason(e["caused_by"]) : type + ": " + type_reason(e["caused_by"]);
  }
  if (type.empty()) return reason;
  if (reason.empty()) return type;
  return type + ": " + reason;
}
}  // namespace

std::string error_summary(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return sanitize_snippet(body, 200);
  if (j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object()) {
      std::string s = type_reason(e);
      // "all shards failed" says nothing: add the first root cause.
      if (e.contains("root_cause") && e["root_cause"].is_array() && !e["root_cause"].empty() &&
          e["root_cause"][0].is_object()) {
        std::string rc = type_reason(e["root_cause"][0]);
        if (!rc.empty() && rc != s) s += " (root cause: " + rc + ")";
      }
      if (!s.empty()) return s;
    }
  }
  if (j.contains("result") && j["result"] == "not_found") return "not found";
  if (j.contains("found") && j["found"] == false) return "not found";
  return sanitize_snippet(body, 200);
}

}  // namespace tandem::es
