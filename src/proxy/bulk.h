// _bulk capture: parse the client's NDJSON request, ask the primary for the
// post-update document on `update` items, and cut the injected "get"
// members out of the client's copy of the answer byte-exactly (the answer
// itself is read by es::parse_bulk_response).
//
// Request format (ES bulk API): each action is one line holding a JSON object
// with exactly one key (index | create | update | delete) whose value is the
// item metadata; index/create/update are followed by one source line, delete
// is not. Whitespace-only lines between actions are skipped (ES does the
// same). The body must end with '\n' (ES refuses it otherwise).
//
// Update items: unless the client already asked for the source (action line
// or source line "_source": true, or URL `_source=true`), capture inserts
// `"_source":true,` right after the action line's inner '{' and remembers
// the item as injected. If the client asked for a filtered source (false,
// a field list, _source_includes/_excludes on the URL), nothing is injected
// and the item can only produce a reconcile event.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "es/es.h"
#include "proxy/capture_json.h"

namespace tandem::proxy::bulk {

enum class Action { kIndex, kCreate, kUpdate, kDelete };
std::string_view action_name(Action a);

// Where an update item's full post-update source comes from.
enum class UpdateSource {
  kNotUpdate,
  kInjected,     // capture asked; strip "get" from the client's answer
  kClientAsked,  // the client asked for the full source; leave "get" alone
  kUnavailable,  // the client asked for a filtered or no source: reconcile
};

struct Item {
  Action action = Action::kIndex;
  std::optional<IndexName> index;      // action line _index, else the path's index
  std::optional<DocId> id;             // absent: auto-generated id
  std::optional<std::string> routing;  // routing / _routing, else URL routing
  // Source line span in the forwarded body (index/create/update).
  size_t source_offset = 0;
  size_t source_length = 0;
  UpdateSource update_source = UpdateSource::kNotUpdate;
  // An ingest pipeline may rewrite the source: the request bytes are then
  // not what the primary stored, and only a reconcile event is honest.
  bool pipeline = false;
};

// URL parameters that act as per-item defaults.
struct Defaults {
  std::optional<IndexName> index;
  std::optional<std::string> routing;
  std::optional<std::string> source;    // `_source` URL parameter
  bool source_filtered = false;         // _source_includes / _source_excludes
  std::optional<std::string> pipeline;  // `pipeline` URL parameter
};

struct ParsedRequest {
  std::vector<Item> items;
  // Set when at least one item was injected: the body to forward, with
  // source spans above pointing into it. Otherwise spans point into the
  // client's body, which is forwarded unchanged.
  std::optional<std::string> rewritten;
  size_t injected = 0;
};

// Errors (kInvalidArgument) name the 1-based line and what was wrong; the
// caller then forwards the body unchanged and captures from the response
// alone (see capture.cc, "unaligned" bulks).
Result<ParsedRequest> parse_request(std::string_view body, const Defaults& defaults);

// The primary's answer is read by es::parse_bulk_response (the one _bulk
// answer parser); an item's action is its `op`, always one of the four.
std::optional<Action> action_of(std::string_view op);

// The client's copy of the response: `body` minus the "get" member of every
// item i with strip[i]; every other byte unchanged.
std::string strip_get_members(std::string_view body, const es::BulkResponse& resp,
                              const std::vector<bool>& strip);

}  // namespace tandem::proxy::bulk
