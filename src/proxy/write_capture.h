// The capture proxy: an HTTP/1.1 reverse proxy in front of the primary that
// turns every write the primary acknowledged into change events in the log.
//
// Two halves meet at the WriteCapture seam below:
//   - the server half (server*.cc, upstream*.cc, admin*.cc, config*.cc):
//     sockets, HTTP parsing and limits, upstream pool, TLS, admin API, roles
//     and graceful drain. It knows nothing about Elasticsearch semantics
//     beyond classify().
//   - the capture half (classify*.cc, capture*.cc, durability*.cc,
//     intents*.cc): which requests are writes, how a request is prepared
//     (e.g. asking for _source on updates), how the primary's answer becomes
//     events, and how those events are made durable (sync/async, spill
//     journal, fail-closed, write-ahead intents).
//
// Invariant 2 (docs/architecture.md): no write the primary acknowledged is
// missing from the log. The server half must call WriteCapture::begin()
// before forwarding any non-read request and must not answer the client
// before complete() calls back.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "es/es.h"
#include "event/event.h"
#include "log/log.h"

namespace tandem::proxy {

// ---- classification --------------------------------------------------------

// The classes and document ops are es::parse_rest_path's own (es/es.h
// documents each); the proxy names them in its own vocabulary. kRead is
// never captured.
using RequestClass = es::RestKind;
std::string_view class_name(RequestClass c);  // es::rest_kind_name

using DocOp = es::RestDocOp;

struct Classification {
  RequestClass cls = RequestClass::kRead;
  DocOp op = DocOp::kNone;         // for kDocWrite
  std::optional<IndexName> index;  // index (or alias / pattern) in the path
  std::optional<DocId> id;         // decoded id for kDocWrite (absent: auto-id)
  bool typed = false;              // 6.x-style /{index}/{type}/... path
  std::string endpoint;            // stable name for metrics, e.g. "doc.update", "bulk"
  // The endpoint's named object, as es::RestPath::name: template, alias
  // (comma-separated names), data stream, block, resize/rollover target.
  std::optional<std::string> name;
};

// Table-driven classification of the Elasticsearch REST API (6.8 - 9.x,
// typed and typeless paths). `target` is the raw request-target (path and
// query, still percent-encoded).
Classification classify(std::string_view method, std::string_view target);

// ---- the capture seam ------------------------------------------------------

struct HttpHeader {
  std::string name;
  std::string value;
};

struct RequestView {
  std::string_view method;
  std::string_view target;  // raw request-target
  const std::vector<HttpHeader>* headers = nullptr;
  std::string_view body;
};

struct UpstreamAnswer {
  int status = 0;
  const std::vector<HttpHeader>* headers = nullptr;
  std::string body;
};

// What the server sends instead of forwarding (fail-closed 503, multi-doc
// policy 400, ...). Body is an Elasticsearch-style error document.
struct LocalReply {
  int status = 0;
  std::string body;
};

// The per-request state capture keeps between begin() and complete().
struct Ticket {
  Classification cls;
  // The request to forward: same as the client's unless capture rewrote it
  // (e.g. added _source to an update). Empty = forward unchanged.
  std::optional<std::string> rewritten_target;
  std::optional<std::string> rewritten_body;
  // Opaque state for complete() (parsed bulk action lines, which injected
  // fields to strip, intent ids...).
  std::shared_ptr<void> state;
};

struct BeginResult {
  std::optional<LocalReply> reply;  // set: answer with this, do not forward
  Ticket ticket;                    // otherwise: forward per ticket
};

// The body to send to the client (the primary's bytes, minus anything
// capture injected), once the events are durable per the durability mode.
using CompleteCallback = std::function<void(std::string client_body)>;

enum class Durability { kSync, kAsync };
enum class MultiDocPolicy { kReject, kAllow };

// What a capture reports about itself, at one instant. The admin API
// renders both /status's "capture" object and the tandem_proxy_capture_*
// metrics of /metrics from it (admin.cc, one field table for both), so a
// field cannot reach one and miss the other; docs/proxy.md lists them.
// Counts are since the process started.
struct CaptureStatus {
  Durability durability = Durability::kSync;           // "mode"
  Epoch epoch{0};                                      // of events emitted from now on
  MultiDocPolicy multi_doc = MultiDocPolicy::kReject;  // "multi_doc_policy"
  uint64_t events_emitted = 0;                         // handed to the log (reconciles included)
  uint64_t events_logged = 0;          // acknowledged by the main log on the live path
  int64_t spill_depth = -1;            // spilled, not drained yet; -1 until first measured
  uint64_t spilled_total = 0;          // acknowledged by the spill journal
  uint64_t drained_total = 0;          // moved from the spill journal into the main log
  uint64_t spill_reclaimed_total = 0;  // drained events whose journal space was freed
  uint64_t stranded = 0;               // in memory only, in neither log nor journal
  uint64_t refused_total = 0;          // refused for good by the log, sent as reconciles
  uint64_t dead_letters = 0;           // refused with no stand-in
  bool spill_open = false;             // the spill journal is usable
  bool fail_closed = false;            // writes are refused with 503 (stranded > 0)
  uint64_t async_window = 0;           // events published and not yet settled
  uint64_t intents_open = 0;           // write-ahead intents not yet settled
  uint64_t requests_open = 0;          // requests those intents belong to
  uint64_t recovered_reconciles = 0;   // reconciles sent for intents found at start-up
  uint64_t abandoned_total = 0;        // writes abandoned mid-flight (upstream failed)
  uint64_t rejected_multi_doc = 0;     // multi-document writes refused (policy reject)
  uint64_t rejected_unavailable = 0;   // writes refused with 503 (fail-closed, no intents)
  std::string last_error;              // most recent log / spill failure ("" none)
  uint64_t marks_failed = 0;           // "needs verification" marks the store refused
  std::string last_mark_error;         // the most recent of those ("" none)
};

class WriteCapture {
 public:
  virtual ~WriteCapture() = default;
  // Before forwarding a non-read request: journals intents, may reject.
  // Never blocks the caller on the intents' fdatasync: the request is read
  // (and any rewrite prepared) before it returns, and `done` runs exactly
  // once with the result, on any thread (the server posts back to the
  // connection's executor).
  using BeginCallback = std::function<void(BeginResult)>;
  virtual void begin_async(const RequestView& req, const Classification& cls,
                           BeginCallback done) = 0;
  // With the primary's answer (or with status 0 when the primary could not
  // be reached, so intents can be settled). Calls `done` exactly once, on
  // any thread; the server must post back to the connection's executor.
  virtual void complete(Ticket ticket, UpstreamAnswer answer, CompleteCallback done) = 0;
  // The upstream request failed after it may have been applied (timeout,
  // reset mid-response): intents stay open and become reconcile events.
  virtual void abandon(Ticket ticket) = 0;
  // For /status and /metrics (admin.cc). Cheap: a snapshot of counters.
  virtual CaptureStatus status() const = 0;
  // Called by a role switch (RoleTable::switch_roles) while writes are held
  // and none is in flight: events of later writes carry `epoch`. An error
  // aborts the switch. The default refuses, so a capture that cannot change
  // its epoch never silently keeps the old one.
  virtual Status set_epoch(Epoch epoch) {
    return error(Code::kFailedPrecondition,
                 "this capture cannot change its epoch (to " + std::to_string(epoch.get()) + ")");
  }
};

struct CaptureOptions {
  Durability durability = Durability::kSync;
  std::chrono::milliseconds log_deadline{2000};  // then spill
  std::string spill_dir;                         // fsync'd spill journal
  std::string intents_dir;                       // write-ahead intents
  MultiDocPolicy multi_doc = MultiDocPolicy::kReject;
  Epoch epoch{0};
};

// The state store hook for "index needs verification" marks (auto-id items,
// allowed multi-doc operations). Implemented over SQLite by the state
// component; tests may pass an in-memory one.
class VerificationMarks {
 public:
  virtual ~VerificationMarks() = default;
  virtual Status mark(const IndexName& index, std::string_view reason) = 0;
};

Result<std::unique_ptr<WriteCapture>> make_capture(const CaptureOptions& opts, log::Log* log,
                                                   VerificationMarks* marks);

}  // namespace tandem::proxy
