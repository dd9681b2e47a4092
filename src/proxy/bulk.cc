#include "proxy/bulk.h"

#include <simdjson.h>

#include <string>
#include <utility>

#include "core/scratch.h"
#include "event/event.h"

namespace tandem::proxy::bulk {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kInjection = "\"_source\":true";

Status bad_line(size_t line_no, std::string_view why) {
  return error(Code::kInvalidArgument,
               "bulk line " + std::to_string(line_no) + ": " + std::string(why));
}

Status bad_json(size_t line_no, simdjson::error_code e) {
  return bad_line(line_no, std::string("invalid JSON (") + simdjson::error_message(e) + ")");
}

std::optional<Action> parse_action(std::string_view key) {
  if (key == "index") return Action::kIndex;
  if (key == "create") return Action::kCreate;
  if (key == "update") return Action::kUpdate;
  if (key == "delete") return Action::kDelete;
  return std::nullopt;
}

// What a `_source` value asks for: true -> the full source; anything else
// (false, a field, a list, includes/excludes) -> not the full source.
bool is_true_literal(od::value v) {
  bool b = false;
  return !v.get_bool().get(b) && b;
}

// Position just after the opening '{' of the action line's inner object.
// `key_raw` points just after the opening quote of the action key.
std::optional<size_t> inner_object_start(const char* key_raw, const char* line_end,
                                         const char* base) {
  const char* p = key_raw;
  while (p < line_end && *p != '"') p += (*p == '\\') ? 2 : 1;
  if (p >= line_end) return std::nullopt;
  ++p;
  while (p < line_end && event::is_json_ws(*p)) ++p;
  if (p >= line_end || *p != ':') return std::nullopt;
  ++p;
  while (p < line_end && event::is_json_ws(*p)) ++p;
  if (p >= line_end || *p != '{') return std::nullopt;
  return static_cast<size_t>(p + 1 - base);
}

struct ActionLine {
  Action action;
  Item item;
  std::optional<bool> source_true;  // action line "_source": set -> whether true
  std::optional<size_t> inject_at;  // where "_source":true would go
  bool inner_empty = true;
};

Result<ActionLine> parse_action_line(od::parser& parser, const char* base, size_t allocated,
                                     size_t off, size_t len, size_t line_no) {
  od::document doc;
  if (auto e = parser.iterate(base + off, len, allocated - off).get(doc))
    return bad_json(line_no, e);
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return bad_json(line_no, e);
  ActionLine out{};
  size_t keys = 0;
  for (auto f : obj) {
    if (++keys > 1) return bad_line(line_no, "more than one action in the action line");
    od::field field;
    if (auto e = std::move(f).get(field)) return bad_json(line_no, e);
    const char* key_raw = field.key().raw();
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return bad_json(line_no, e);
    std::optional<Action> action = parse_action(key);
    if (!action) return bad_line(line_no, "unknown action [" + std::string(key) + "]");
    out.action = *action;
    out.item.action = *action;
    out.inject_at = inner_object_start(key_raw, base + off + len, base);
    od::object inner;
    if (auto e = field.value().get_object().get(inner)) return bad_json(line_no, e);
    for (auto g : inner) {
      out.inner_empty = false;
      od::field m;
      if (auto e = std::move(g).get(m)) return bad_json(line_no, e);
      std::string_view name;
      if (auto e = m.unescaped_key().get(name)) return bad_json(line_no, e);
      od::value v = m.value();
      if (name == "_index" || name == "_id" || name == "routing" || name == "_routing" ||
          name == "pipeline") {
        auto text = detail::scalar_text(v, name);
        if (!text.is_ok()) return bad_line(line_no, text.status().message());
        if (name == "_index") {
          if (*text) out.item.index = IndexName(std::move(**text));
        } else if (name == "_id") {
          if (*text) out.item.id = DocId(std::move(**text));
        } else if (name == "pipeline") {
          out.item.pipeline = text->has_value() && **text != "_none";
        } else if (*text) {
          out.item.routing = std::move(**text);
        }
      } else if (name == "_source") {
        out.source_true = is_true_literal(v);
      }
    }
  }
  if (keys == 0) return bad_line(line_no, "empty action line");
  return out;
}

// The update source line's own "_source" wins over the action line's (ES
// parses the body after applying the metadata).
Result<std::optional<bool>> update_body_source(od::parser& parser, const char* base,
                                               size_t allocated, size_t off, size_t len,
                                               size_t line_no) {
  od::document doc;
  if (auto e = parser.iterate(base + off, len, allocated - off).get(doc))
    return bad_json(line_no, e);
  od::object obj;
  if (auto e = doc.get_object().get(obj)) return bad_json(line_no, e);
  std::optional<bool> out;
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return bad_json(line_no, e);
    std::string_view name;
    if (auto e = field.unescaped_key().get(name)) return bad_json(line_no, e);
    if (name == "_source") out = is_true_literal(field.value());
  }
  return out;
}

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kIndex:
      return "index";
    case Action::kCreate:
      return "create";
    case Action::kUpdate:
      return "update";
    case Action::kDelete:
      return "delete";
  }
  return "?";
}

Result<ParsedRequest> parse_request(std::string_view body, const Defaults& defaults) {
  if (!body.empty() && body.back() != '\n') {
    return error(Code::kInvalidArgument, "bulk body does not end with a newline");
  }
  simdjson::padded_string padded(body);
  const char* base = padded.data();
  const size_t allocated = padded.size() + simdjson::SIMDJSON_PADDING;
  thread_local od::parser parser;
  const ScratchBound keep_parser(parser);

  // URL-level _source acts as the default for update items.
  enum class UrlSource { kNone, kFull, kFiltered } url_source = UrlSource::kNone;
  if (defaults.source_filtered) {
    url_source = UrlSource::kFiltered;
  } else if (defaults.source) {
    url_source = *defaults.source == "true" ? UrlSource::kFull : UrlSource::kFiltered;
  }
  bool url_pipeline = defaults.pipeline && *defaults.pipeline != "_none";

  ParsedRequest out;
  struct Insertion {
    size_t at;   // offset in `body`; ascending
    bool comma;  // false when the inner object was empty
  };
  std::vector<Insertion> insert_at;
  size_t pos = 0;
  size_t line_no = 0;
  auto next_line = [&](size_t& off, size_t& len) {
    size_t nl = body.find('\n', pos);
    off = pos;
    len = nl - pos;
    pos = nl + 1;
    ++line_no;
  };
  while (pos < body.size()) {
    size_t off = 0, len = 0;
    next_line(off, len);
    if (event::trim_json_ws(body.substr(off, len)).empty()) continue;
    TANDEM_ASSIGN_OR_RETURN(ActionLine al,
                            parse_action_line(parser, base, allocated, off, len, line_no));
    Item item = std::move(al.item);
    if (!item.index) item.index = defaults.index;
    if (!item.routing) item.routing = defaults.routing;
    item.pipeline = item.pipeline || url_pipeline;
    if (item.action != Action::kDelete) {
      if (pos >= body.size()) return bad_line(line_no, "action without a source line");
      next_line(off, len);
      item.source_offset = off;
      item.source_length = len;
      // A source line keeps its bytes, minus a CRLF's '\r'.
      if (len > 0 && body[off + len - 1] == '\r') item.source_length = len - 1;
    }
    if (item.action == Action::kUpdate) {
      TANDEM_ASSIGN_OR_RETURN(std::optional<bool> body_source,
                              update_body_source(parser, base, allocated, off, len, line_no));
      std::optional<bool> asked = body_source ? body_source : al.source_true;
      if (asked) {
        item.update_source = *asked ? UpdateSource::kClientAsked : UpdateSource::kUnavailable;
      } else if (url_source == UrlSource::kFull) {
        item.update_source = UpdateSource::kClientAsked;
      } else if (url_source == UrlSource::kFiltered || !al.inject_at) {
        item.update_source = UpdateSource::kUnavailable;
      } else {
        item.update_source = UpdateSource::kInjected;
        // An empty inner object takes the member without a trailing comma.
        insert_at.push_back({*al.inject_at, !al.inner_empty});
      }
    }
    out.items.push_back(std::move(item));
  }
  if (insert_at.empty()) return out;

  // Build the rewritten body and shift source spans past each insertion.
  std::string rewritten;
  rewritten.reserve(body.size() + insert_at.size() * (kInjection.size() + 1));
  size_t copied = 0;
  std::vector<std::pair<size_t, size_t>> shifts;  // (original offset, added bytes so far)
  size_t added = 0;
  for (const Insertion& ins : insert_at) {
    rewritten.append(body.substr(copied, ins.at - copied));
    rewritten.append(kInjection);
    added += kInjection.size();
    if (ins.comma) {
      rewritten += ',';
      ++added;
    }
    copied = ins.at;
    shifts.emplace_back(ins.at, added);
  }
  rewritten.append(body.substr(copied));
  // Items and insertions both ascend through the body: one merge pass.
  size_t next_shift = 0;
  size_t shift = 0;
  for (Item& item : out.items) {
    if (item.action == Action::kDelete) continue;
    while (next_shift < shifts.size() && shifts[next_shift].first <= item.source_offset) {
      shift = shifts[next_shift++].second;
    }
    item.source_offset += shift;
  }
  out.injected = insert_at.size();
  out.rewritten = std::move(rewritten);
  return out;
}

std::optional<Action> action_of(std::string_view op) {
  return parse_action(op);
}

std::string strip_get_members(std::string_view body, const es::BulkResponse& resp,
                              const std::vector<bool>& strip) {
  std::string out;
  out.reserve(body.size());
  size_t copied = 0;
  for (size_t i = 0; i < resp.items.size() && i < strip.size(); ++i) {
    const es::BulkItem& w = resp.items[i];
    if (!strip[i] || !w.has_get) continue;
    // Items are in body order, so erase ranges ascend.
    if (w.get_begin < copied || w.get_end > body.size()) continue;
    out.append(body.substr(copied, w.get_begin - copied));
    copied = w.get_end;
  }
  out.append(body.substr(copied));
  return out;
}

}  // namespace tandem::proxy::bulk
