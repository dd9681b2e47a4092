// From the primary's answer to change events: pure functions, no I/O, so
// every rule here is unit-tested with real ES 7.17 / 8.x bodies
// (tests/proxy/testdata). Rules (docs/proxy-capture.md has the rationale):
//  - Only what the primary acknowledged becomes an event: a 2xx single
//    write, a 2xx bulk item. Failed items produce nothing.
//  - A delete of a missing document is answered 404 "not_found" but the
//    primary still ran it as an operation with its own _seq_no; it becomes a
//    delete event (a versioned tombstone on the secondary is exactly right).
//  - Index/create events carry the request's source bytes; update events
//    carry get._source (the full post-update document). When neither is
//    trustworthy (ingest pipeline, filtered _source, source that is not
//    strict JSON) the event is a reconcile, with the primary's _seq_no as a
//    hint.
//  - "noop" updates changed nothing and produce nothing.
//  - Index and id come from the primary's answer (concrete index behind an
//    alias, auto-generated ids); routing from the request.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/types.h"
#include "event/event.h"
#include "proxy/bulk.h"
#include "proxy/proxy.h"

namespace tandem::proxy::detail {

struct EventContext {
  Epoch epoch{0};
  int64_t now_ms = 0;
};

struct VerifyMark {
  IndexName index;
  std::string reason;
};

struct Outcome {
  std::vector<event::ChangeEvent> events;
  std::string client_body;  // the primary's body minus what capture injected
  std::vector<VerifyMark> marks;
};

struct DocRequest {
  DocOp op = DocOp::kNone;
  IndexName index;                     // from the path
  std::optional<DocId> id;             // absent: auto-id
  std::optional<std::string> routing;  // routing (or 6.x parent) parameter
  std::string body;                    // the request body (index/create source)
  bulk::UpdateSource update_source = bulk::UpdateSource::kNotUpdate;
  bool pipeline = false;
};
Outcome doc_outcome(const DocRequest& req, int status, std::string body, const EventContext& ctx);

struct BulkRequest {
  std::optional<bulk::ParsedRequest> parsed;  // nullopt: the request did not parse
  std::string forwarded;                      // the bytes the primary received
};
Outcome bulk_outcome(const BulkRequest& req, int status, std::string body, const EventContext& ctx);

struct MetaRequest {
  std::string method;
  std::string target;  // raw request-target
  std::string body;
  IndexName index;                  // the path's index expression, "" for none
  std::optional<std::string> name;  // template / alias / data stream name
};
// The meta payload documented in src/meta/meta.h (apply_meta_event):
//   {"method":..,"path":<raw target>,"body":<JSON|"text"|null>,"status":N,
//    "response":<JSON|"text">[,"name":..]}
std::string meta_payload(const MetaRequest& req, int status, std::string_view response);
Outcome meta_outcome(const MetaRequest& req, int status, std::string body, const EventContext& ctx);

}  // namespace tandem::proxy::detail
