// Helpers shared by the es component's translation units. Not part of the
// public interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "es/es.h"
#include "http/http.h"

namespace tandem::es::detail {

// "http://host:port/base" without credentials (local copy so that this
// component's pure parts do not need the transport library to link).
std::string url_string(const http::Url& u);

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

// Parses an _mget answer into one Doc per requested document, in request
// order. A per-document error of type index_not_found_exception is an
// absent document (found=false), as get() reports a missing index;
// index_closed_exception fails as a GET would (400, not transient); any
// other per-document error (a shard not available) is kUnavailable, so the
// caller retries the batch. Errors name the cluster `label`, and the index
// and id when the entry has them. Defined in client.cc.
Status parse_mget(std::string_view body, const std::string& label, std::vector<Doc>* out);

}  // namespace tandem::es::detail
