// Event codec: encode() writes the v1 envelope by hand (so field order and
// escaping are fixed and golden-testable); decode() validates with simdjson.
// See docs/event-format.md for the format itself.
#include "event/event.h"

#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <limits>

#include "core/scratch.h"
#include "event/murmur2.h"

namespace tandem::event {
namespace {

constexpr char kB64Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) |
                 uint32_t(uint8_t(in[i + 2]));
    out += kB64Alphabet[(n >> 18) & 63];
    out += kB64Alphabet[(n >> 12) & 63];
    out += kB64Alphabet[(n >> 6) & 63];
    out += kB64Alphabet[n & 63];
  }
  size_t rest = in.size() - i;
  if (rest > 0) {
    uint32_t n = uint32_t(uint8_t(in[i])) << 16;
    if (rest == 2) n |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += kB64Alphabet[(n >> 18) & 63];
    out += kB64Alphabet[(n >> 12) & 63];
    out += rest == 2 ? kB64Alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Strict: standard alphabet, padded, no whitespace, canonical trailing bits.
// Strictness keeps the id_b64 <-> id mapping one-to-one.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    int pad = 0;
    if (last) pad = (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=');
    int v[4];
    for (int j = 0; j < 4 - pad; ++j) {
      v[j] = b64_value(in[i + j]);
      if (v[j] < 0) return std::nullopt;
    }
    for (int j = 4 - pad; j < 4; ++j) v[j] = 0;
    uint32_t n =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out += char((n >> 16) & 0xff);
    if (pad < 2) out += char((n >> 8) & 0xff);
    if (pad < 1) out += char(n & 0xff);
    // Non-zero bits under the padding would let two strings decode to one id.
    if ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0)) return std::nullopt;
  }
  return out;
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void append_raw_or_null(std::string& out, std::string_view raw) {
  raw = trim_json_ws(raw);
  if (raw.empty()) {
    out += "null";
  } else {
    out += raw;
  }
}

Status corrupt(std::string_view field, std::string_view why) {
  return error(Code::kCorruption,
               "change event: field \"" + std::string(field) + "\": " + std::string(why));
}

Status corrupt_envelope(std::string_view why) {
  return error(Code::kCorruption, "change event: " + std::string(why));
}

using simdjson::ondemand::json_type;
using simdjson::ondemand::value;

Result<int64_t> read_int(value v, std::string_view field) {
  int64_t out = 0;
  auto err = v.get_int64().get(out);
  if (err) {
    return corrupt(field,
                   std::string("expected a 64-bit integer (") + simdjson::error_message(err) + ")");
  }
  return out;
}

Result<std::string> read_string(value v, std::string_view field) {
  std::string_view sv;
  auto err = v.get_string().get(sv);
  if (err) {
    return corrupt(field, std::string("expected a string (") + simdjson::error_message(err) + ")");
  }
  return std::string(sv);
}

// Raw bytes of any JSON value (object, array or scalar) exactly as they sit
// in the envelope. simdjson 3.0.1's object/array raw_json() and
// raw_json_token() return the span up to the *next* token, so trailing
// whitespace is trimmed here; a JSON value never ends in whitespace, so the
// trim cannot cut into the value itself.
Result<std::string> read_raw(value v, std::string_view field) {
  json_type t;
  auto err = v.type().get(t);
  if (err) return corrupt(field, simdjson::error_message(err));
  std::string_view raw;
  switch (t) {
    case json_type::object: {
      simdjson::ondemand::object o;
      err = v.get_object().get(o);
      if (!err) err = o.raw_json().get(raw);
      break;
    }
    case json_type::array: {
      simdjson::ondemand::array a;
      err = v.get_array().get(a);
      if (!err) err = a.raw_json().get(raw);
      break;
    }
    case json_type::null:
      // null stands for "no bytes"; see encode().
      return std::string();
    default:
      raw = v.raw_json_token();
      break;
  }
  if (err) return corrupt(field, simdjson::error_message(err));
  return std::string(trim_json_ws(raw));
}

}  // namespace

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kIndex:
      return "index";
    case Op::kDelete:
      return "delete";
    case Op::kReconcile:
      return "reconcile";
    case Op::kMeta:
      return "meta";
  }
  return "unknown";
}

Result<Op> parse_op(std::string_view s) {
  if (s == "index") return Op::kIndex;
  if (s == "delete") return Op::kDelete;
  if (s == "reconcile") return Op::kReconcile;
  if (s == "meta") return Op::kMeta;
  return error(Code::kInvalidArgument, "unknown event op \"" + std::string(s) + "\"");
}

std::string encode(const ChangeEvent& e) {
  std::string out;
  out.reserve(160 + e.index.get().size() + e.id.get().size() + e.source.size() + e.meta.size());
  out += "{\"v\":";
  append_int(out, e.format_version);
  out += ",\"op\":\"";
  out += op_name(e.op);
  out += "\",\"index\":";
  append_json_string(out, e.index.get());
  if (simdjson::validate_utf8(e.id.get())) {
    out += ",\"id\":";
    append_json_string(out, e.id.get());
  } else {
    out += ",\"id_b64\":\"";
    out += base64_encode(e.id.get());
    out += '"';
  }
  out += ",\"routing\":";
  if (e.routing) {
    append_json_string(out, *e.routing);
  } else {
    out += "null";
  }
  out += ",\"seq_no\":";
  append_int(out, e.seq_no.get());
  out += ",\"primary_term\":";
  append_int(out, e.primary_term.get());
  out += ",\"epoch\":";
  append_int(out, e.epoch.get());
  out += ",\"ts\":";
  append_int(out, e.timestamp_ms);
  if (e.op == Op::kIndex) {
    out += ",\"source\":";
    append_raw_or_null(out, e.source);
  } else if (e.op == Op::kMeta) {
    out += ",\"meta\":";
    append_raw_or_null(out, e.meta);
  }
  out += '}';
  return out;
}

Result<ChangeEvent> decode(std::string_view bytes) {
  // One parser per thread: simdjson parsers own their buffers and are not
  // thread-safe, and allocating one per call would dominate small events.
  // A large meta event's buffers are not kept (core/scratch.h).
  thread_local simdjson::ondemand::parser od_parser;
  const ScratchBound keep_parser(od_parser);

  simdjson::padded_string padded(bytes);
  // On-demand only, no DOM pass: simdjson's DOM rejects numbers that do
  // not fit 64 bits (12345678901234567890123, 1e400), which are valid JSON
  // and do occur in _source. Stage 1 still validates UTF-8 and the
  // structural characters of the whole input; envelope fields are fully
  // checked below; `source`/`meta` are opaque spans (balanced, valid UTF-8).
  simdjson::ondemand::document doc;
  auto err = od_parser.iterate(padded).get(doc);
  if (err)
    return corrupt_envelope(std::string("invalid JSON (") + simdjson::error_message(err) + ")");
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return corrupt_envelope("not a JSON object");

  // The version decides how everything else is read, so look at it first
  // even if a writer put it somewhere other than first.
  {
    value v;
    err = obj.find_field_unordered("v").get(v);
    if (err == simdjson::NO_SUCH_FIELD) return corrupt("v", "missing");
    if (err) return corrupt("v", simdjson::error_message(err));
    TANDEM_ASSIGN_OR_RETURN(int64_t ver, read_int(v, "v"));
    if (ver != kFormatVersion) {
      return error(Code::kInvalidArgument,
                   "change event: field \"v\": unsupported format version " + std::to_string(ver) +
                       " (this build reads " + std::to_string(kFormatVersion) + ")");
    }
  }
  if (obj.reset().error()) return corrupt_envelope("cannot rewind");

  ChangeEvent e;
  std::optional<Op> op;
  bool have_v = false, have_index = false, have_id = false, have_seq = false, have_term = false,
       have_epoch = false, have_ts = false, have_routing = false;
  std::optional<std::string> source, meta;

  for (auto field_or_error : obj) {
    simdjson::ondemand::field field;
    if (std::move(field_or_error).get(field)) return corrupt_envelope("malformed object");
    std::string_view key;
    if (field.unescaped_key().get(key)) return corrupt_envelope("bad field name");
    value v = field.value();
    auto dup = [&](bool& seen) {
      if (seen) return true;
      seen = true;
      return false;
    };
    if (key == "v") {
      if (dup(have_v)) return corrupt(key, "duplicate");
      // Already checked above.
    } else if (key == "op") {
      if (op) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(std::string s, read_string(v, key));
      auto r = parse_op(s);
      if (!r) return corrupt(key, "unknown op \"" + s + "\"");
      op = *r;
    } else if (key == "index") {
      if (dup(have_index)) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(e.index.get(), read_string(v, key));
    } else if (key == "id") {
      if (dup(have_id)) return corrupt(key, "duplicate (or both id and id_b64)");
      TANDEM_ASSIGN_OR_RETURN(e.id.get(), read_string(v, key));
    } else if (key == "id_b64") {
      if (dup(have_id)) return corrupt(key, "duplicate (or both id and id_b64)");
      TANDEM_ASSIGN_OR_RETURN(std::string s, read_string(v, key));
      auto d = base64_decode(s);
      if (!d) return corrupt(key, "not canonical padded base64");
      e.id.get() = std::move(*d);
    } else if (key == "routing") {
      if (dup(have_routing)) return corrupt(key, "duplicate");
      bool is_null = false;
      if (v.is_null().get(is_null)) return corrupt(key, "unreadable");
      if (!is_null) {
        TANDEM_ASSIGN_OR_RETURN(std::string s, read_string(v, key));
        e.routing = std::move(s);
      }
    } else if (key == "seq_no") {
      if (dup(have_seq)) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(e.seq_no.get(), read_int(v, key));
    } else if (key == "primary_term") {
      if (dup(have_term)) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(e.primary_term.get(), read_int(v, key));
    } else if (key == "epoch") {
      if (dup(have_epoch)) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(int64_t ep, read_int(v, key));
      if (ep < 0 || ep > int64_t{std::numeric_limits<uint32_t>::max()}) {
        return corrupt(key, "out of range for a 32-bit unsigned epoch");
      }
      e.epoch = Epoch(static_cast<uint32_t>(ep));
    } else if (key == "ts") {
      if (dup(have_ts)) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(e.timestamp_ms, read_int(v, key));
    } else if (key == "source") {
      if (source) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(source, read_raw(v, key));
    } else if (key == "meta") {
      if (meta) return corrupt(key, "duplicate");
      TANDEM_ASSIGN_OR_RETURN(meta, read_raw(v, key));
    }
    // Unknown fields are skipped: v1 may gain optional fields (see the
    // versioning rules in docs/event-format.md).
  }

  // 3.0.1 has no document::at_end(); current_location() fails with
  // OUT_OF_BOUNDS exactly when nothing follows the root object.
  {
    const char* rest = nullptr;
    if (!doc.current_location().get(rest)) {
      return corrupt_envelope("trailing bytes after the envelope object");
    }
  }

  if (!op) return corrupt("op", "missing");
  e.op = *op;
  if (!have_index) return corrupt("index", "missing");
  if (!have_id) return corrupt("id", "missing (neither id nor id_b64)");
  if (!have_seq) return corrupt("seq_no", "missing");
  if (!have_term) return corrupt("primary_term", "missing");
  if (!have_epoch) return corrupt("epoch", "missing");
  if (!have_ts) return corrupt("ts", "missing");
  if (e.op == Op::kIndex) {
    if (!source) return corrupt("source", "missing for op index");
    e.source = std::move(*source);
  } else if (source) {
    return corrupt("source", "not allowed for op " + std::string(op_name(e.op)));
  }
  if (e.op == Op::kMeta) {
    if (!meta) return corrupt("meta", "missing for op meta");
    e.meta = std::move(*meta);
  } else if (meta) {
    return corrupt("meta", "not allowed for op " + std::string(op_name(e.op)));
  }
  return e;
}

std::string partition_key(const ChangeEvent& e) {
  // '/' cannot occur in an Elasticsearch/OpenSearch index name, so the first
  // '/' always ends the index part and keys of different indices never
  // collide. Meta events key by the index alone (no '/').
  std::string key = e.index.get();
  if (e.op == Op::kMeta) return key;
  key += '/';
  if (e.routing && !e.routing->empty()) {
    key += *e.routing;
  } else {
    key += e.id.get();
  }
  return key;
}

int32_t murmur2(std::string_view data) {
  // Kafka's org.apache.kafka.common.utils.Utils.murmur2, transcribed with
  // uint32_t so that overflow is defined (Java ints wrap the same way).
  const uint32_t length = static_cast<uint32_t>(data.size());
  const uint32_t seed = 0x9747b28c;
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  uint32_t h = seed ^ length;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const uint32_t length4 = length / 4;
  for (uint32_t i = 0; i < length4; ++i) {
    const uint32_t i4 = i * 4;
    uint32_t k = uint32_t(p[i4]) | (uint32_t(p[i4 + 1]) << 8) | (uint32_t(p[i4 + 2]) << 16) |
                 (uint32_t(p[i4 + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const uint32_t tail = length & ~3u;
  switch (length % 4) {
    case 3:
      h ^= uint32_t(p[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t(p[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t(p[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t partition_for(std::string_view key, int32_t partitions) {
  if (partitions <= 0) return 0;
  // Utils.toPositive: clear the sign bit (not abs(), which overflows).
  const int32_t positive = murmur2(key) & 0x7fffffff;
  return positive % partitions;
}

std::vector<int32_t> request_partitions(const std::vector<ChangeEvent>& events,
                                        int32_t partitions) {
  std::vector<int32_t> out(events.size(), 0);
  std::optional<int32_t> anchor;
  for (size_t i = 0; i < events.size(); ++i) {
    const ChangeEvent& e = events[i];
    if (e.op == Op::kMeta) {
      out[i] = partition_for(partition_key(e), partitions);
      continue;
    }
    // The first data event's key: as well spread as the documents' keys
    // are, and a single-document request keeps its per-document partition.
    if (!anchor) anchor = partition_for(partition_key(e), partitions);
    out[i] = *anchor;
  }
  return out;
}

}  // namespace tandem::event
