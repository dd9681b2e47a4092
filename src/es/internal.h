// Helpers shared by the es component's translation units. Not part of the
// public interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "es/es.h"
#include "http/http.h"

namespace tandem::es::internal {

// Percent-encodes a path segment or query value: everything but RFC 3986
// unreserved characters and the bytes in `keep` is %XX-encoded.
std::string pct_encode(std::string_view raw, std::string_view keep = {});

// "http://host:port/base" without credentials (local copy so that this
// component's pure parts do not need the transport library to link).
std::string url_string(const http::Url& u);

// "TANDEM_BLUE" for label "blue": the environment prefix for credentials.
std::string env_prefix(std::string_view label);

// Appends the JSON string literal for raw bytes (see BulkBuilder).
void append_json_quoted(std::string& out, std::string_view raw);

// Parses a non-negative or negative decimal integer; nullopt if malformed.
std::optional<int64_t> parse_int(std::string_view s);

// True if the body names a missing search context (expired scroll / PIT).
bool mentions_missing_search_context(std::string_view body);

// Reads one document object -- a GET answer, an _mget entry or a search
// hit -- into *d: _index, _id, _routing, _seq_no, _primary_term,
// _version, found, and _source as its raw bytes (never re-serialized).
// Optionally keeps a hit's "sort" array and an _mget entry's "error"
// object as raw JSON. Fields it does not know are skipped.
struct DocExtras {
  std::string* error = nullptr;
  std::string* sort = nullptr;
};
simdjson::error_code parse_doc_fields(simdjson::ondemand::object o, Doc* d, DocExtras x = {});

}  // namespace tandem::es::internal
