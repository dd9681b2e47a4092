// The cutover control record (event.h, docs/cutover.md).
#include <simdjson.h>

#include "event/event.h"

namespace tandem::event {

std::string encode_decision(const FlipDecision& d) {
  std::string out = "{\"v\":1,\"flip\":";
  append_json_string(out, d.flip);
  out += ",\"decision\":";
  out += d.commit ? "\"commit\"" : "\"abort\"";
  out += ",\"epoch\":" + std::to_string(d.epoch.get()) + ",\"primary\":";
  append_json_string(out, d.primary);
  out += ",\"ts\":" + std::to_string(d.timestamp_ms) + "}";
  return out;
}

Result<FlipDecision> decode_decision(std::string_view bytes) {
  simdjson::padded_string padded(bytes);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return error(Code::kCorruption, "control record: not a JSON object");
  }
  auto bad = [](const char* field) {
    return error(Code::kCorruption, std::string("control record: field \"") + field +
                                        "\" missing or of the wrong type");
  };
  int64_t v = 0;
  if (root["v"].get(v) != simdjson::SUCCESS) return bad("v");
  if (v != 1) {
    return error(Code::kInvalidArgument,
                 "control record: unsupported format version " + std::to_string(v));
  }
  FlipDecision d;
  std::string_view sv;
  if (root["flip"].get(sv) != simdjson::SUCCESS || sv.empty()) return bad("flip");
  d.flip = std::string(sv);
  if (root["decision"].get(sv) != simdjson::SUCCESS || (sv != "commit" && sv != "abort")) {
    return bad("decision");
  }
  d.commit = sv == "commit";
  uint64_t epoch = 0;
  if (root["epoch"].get(epoch) != simdjson::SUCCESS || epoch > UINT32_MAX) return bad("epoch");
  d.epoch = Epoch(static_cast<uint32_t>(epoch));
  if (root["primary"].get(sv) != simdjson::SUCCESS) return bad("primary");
  d.primary = std::string(sv);
  if (root["ts"].get(d.timestamp_ms) != simdjson::SUCCESS) return bad("ts");
  return d;
}

}  // namespace tandem::event
