// The change event: tandem's unit of replication. Self-contained, versioned,
// and documented with golden examples in docs/event-format.md.
//
// Encoding (format version 1) is a single-line JSON object:
//   {"v":1,"op":"index","index":"products","id":"42","routing":null,
//    "seq_no":17,"primary_term":1,"epoch":0,"ts":1732300000000,
//    "source":{...raw bytes...}}
// `source` is spliced in byte-for-byte from the primary -- never parsed and
// re-serialized -- so number formatting, key order and unicode escapes
// survive. An id that is not valid UTF-8 is carried as "id_b64" instead of
// "id". Meta events carry "meta":{...} (the request and the primary's
// answer) instead of a source.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace tandem::event {

constexpr int kFormatVersion = 1;

enum class Op { kIndex, kDelete, kReconcile, kMeta };
std::string_view op_name(Op op);
Result<Op> parse_op(std::string_view s);

struct ChangeEvent {
  int format_version = kFormatVersion;
  Op op = Op::kIndex;
  IndexName index;
  DocId id;  // empty for meta events
  std::optional<std::string> routing;
  SeqNo seq_no{-1};  // -1 when unknown (reconcile, meta)
  PrimaryTerm primary_term{-1};
  Epoch epoch{0};
  int64_t timestamp_ms = 0;  // wall clock at capture
  std::string source;        // raw JSON bytes (index ops)
  std::string meta;          // raw JSON bytes (meta ops)

  bool operator==(const ChangeEvent&) const = default;
};

// Encodes to the single-line JSON envelope. `source` and `meta` must be
// valid JSON (they come from the primary); they are embedded verbatim.
std::string encode(const ChangeEvent& e);

// Decodes and validates an envelope. Errors are kCorruption for malformed
// input and kInvalidArgument for an unsupported format version; both say
// which field was wrong.
Result<ChangeEvent> decode(std::string_view bytes);

// The partition key: a stable function of (index, routing or id), the
// document's identity. Meta events key by index alone, so they are ordered
// with no document: the loader brings an index's mapping from the primary
// before a document that needs it, wherever the meta event is
// (docs/loader.md, "Mappings before documents").
std::string partition_key(const ChangeEvent& e);

// Stable partition choice for a key (murmur2, same as Kafka's default
// partitioner so the file log and Kafka agree).
int32_t partition_for(std::string_view key, int32_t partitions);

// Where the events of one request go (docs/event-format.md, "Partitioning"):
// one partition per event, in order. Every data event (index, delete,
// reconcile) of the request goes to the partition of the request's first
// data event's key, so a 100-document bulk is one produce request to one
// partition (one log round trip) instead of one per partition. Correct
// because the loader's external versions commute (Invariant 1): no consumer
// needs one document's events in one partition. Meta events keep
// partition_for(partition_key(e)). A request with one data event lands
// exactly where its key alone would put it.
std::vector<int32_t> request_partitions(const std::vector<ChangeEvent>& events, int32_t partitions);

// ---- the cutover control record (docs/cutover.md) -------------------------
// One record per decision of a fenced flip, on the control channel (a
// one-partition Kafka topic or file log next to the change log). The first
// decision recorded for a flip id is the decision; proxies that lost the
// coordinator read it instead of guessing.
//   {"v":1,"flip":"<id>","decision":"commit","epoch":3,"primary":"green","ts":...}
struct FlipDecision {
  std::string flip;  // flip id
  bool commit = false;
  Epoch epoch{0};       // the epoch after the flip (commit) or the unchanged one
  std::string primary;  // the primary after the decision
  int64_t timestamp_ms = 0;
  bool operator==(const FlipDecision&) const = default;
};
std::string encode_decision(const FlipDecision& d);
Result<FlipDecision> decode_decision(std::string_view bytes);

// ---- JSON strings ----------------------------------------------------------
// Appends `s` as a quoted JSON string: tandem's one JSON escaper, used for
// the envelope, control records, bulk action lines and ES-style error
// bodies. Escapes '"', '\\' and every control character below 0x20 as
// \u00XX (one rule, no short forms, so the output is easy to state and to
// golden-test). Everything else, including '/', DEL and non-ASCII UTF-8,
// is copied as is. Bytes that are not valid UTF-8 are replaced by U+FFFD,
// one per maximal ill-formed subpart (Unicode's recommended practice, as
// ES and browsers do): JSON cannot carry them, and callers that need exact
// bytes (document ids) check validate_utf8 first and use base64 instead.
void append_json_string(std::string& out, std::string_view s);
// append_json_string into a new string.
std::string json_string(std::string_view s);

// ---- JSON white space -------------------------------------------------------
// The four characters JSON allows between tokens (RFC 8259): space, tab,
// line feed, carriage return. Nothing else (no form feed, no NBSP).
constexpr bool is_json_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
// `s` without JSON white space at either end: tandem's one trimmer of raw
// JSON values cut out of a larger text (a _source span, a scalar token, the
// tail after a document). Inline: the proxy trims every captured source.
constexpr std::string_view trim_json_ws(std::string_view s) {
  while (!s.empty() && is_json_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_json_ws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace tandem::event
