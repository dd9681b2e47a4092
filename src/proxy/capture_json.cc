#include "proxy/capture_json.h"

#include <string>

#include "core/scratch.h"
#include "event/event.h"

namespace tandem::proxy::detail {
namespace {

namespace od = simdjson::ondemand;

Status protocol(std::string_view what, simdjson::error_code e) {
  return error(Code::kProtocol, std::string(what) + ": " + simdjson::error_message(e));
}

}  // namespace

namespace {

// Walks every value so that strings, literals and structure are checked.
// Numbers are only type-checked, not converted: big integers and 1e400 are
// valid JSON that simdjson's converters (and its DOM) refuse, and they do
// occur in _source.
bool walk(od::value v, int depth) {
  if (depth > 512) return false;
  od::json_type t;
  if (v.type().get(t)) return false;
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if (v.get_object().get(o)) return false;
      for (auto f : o) {
        od::field field;
        if (std::move(f).get(field)) return false;
        std::string_view key;
        if (field.unescaped_key().get(key)) return false;
        if (!walk(field.value(), depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::array: {
      od::array a;
      if (v.get_array().get(a)) return false;
      for (auto el : a) {
        od::value item;
        if (std::move(el).get(item)) return false;
        if (!walk(item, depth + 1)) return false;
      }
      return true;
    }
    case od::json_type::string: {
      std::string_view s;
      return !v.get_string().get(s);
    }
    case od::json_type::number: {
      // Token shape only: -?digits[.digits][e[+-]digits]
      std::string_view tok = event::trim_json_ws(v.raw_json_token());
      size_t i = 0;
      auto digits = [&] {
        size_t start = i;
        while (i < tok.size() && tok[i] >= '0' && tok[i] <= '9') ++i;
        return i > start;
      };
      if (i < tok.size() && tok[i] == '-') ++i;
      if (i + 1 < tok.size() && tok[i] == '0' && tok[i + 1] >= '0' && tok[i + 1] <= '9') {
        return false;  // no leading zeros
      }
      if (!digits()) return false;
      if (i < tok.size() && tok[i] == '.') {
        ++i;
        if (!digits()) return false;
      }
      if (i < tok.size() && (tok[i] == 'e' || tok[i] == 'E')) {
        ++i;
        if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) ++i;
        if (!digits()) return false;
      }
      return i == tok.size();
    }
    case od::json_type::boolean: {
      bool b;
      return !v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      return !v.is_null().get(is_null) && is_null;
    }
  }
  return false;
}

}  // namespace

bool is_valid_json(std::string_view s) {
  thread_local od::parser parser;
  const ScratchBound keep_parser(parser);
  simdjson::padded_string padded(s);
  od::document doc;
  if (parser.iterate(padded).get(doc)) return false;
  od::value v;
  // A scalar document can't be read as a value in simdjson 3.0; sources
  // and meta bodies are objects or arrays anyway.
  od::json_type t;
  if (doc.type().get(t)) return false;
  if (t != od::json_type::object && t != od::json_type::array) return false;
  if (doc.get_value().get(v)) return false;
  if (!walk(v, 0)) return false;
  // Nothing may follow the value.
  const char* end = nullptr;
  auto loc = doc.current_location();
  if (loc.error() == simdjson::OUT_OF_BOUNDS) return true;
  if (std::move(loc).get(end)) return false;
  return event::trim_json_ws(std::string_view(end, padded.data() + padded.size() - end)).empty();
}

Result<std::optional<std::string>> scalar_text(od::value v, std::string_view what) {
  od::json_type t;
  if (auto e = v.type().get(t)) return protocol(what, e);
  switch (t) {
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return protocol(what, e);
      return std::optional<std::string>(std::string(s));
    }
    case od::json_type::number:
    case od::json_type::boolean:
      return std::optional<std::string>(std::string(event::trim_json_ws(v.raw_json_token())));
    case od::json_type::null:
      return std::optional<std::string>();
    default:
      return error(Code::kInvalidArgument, std::string(what) + " must be a string");
  }
}

}  // namespace tandem::proxy::detail
