// JSON helpers shared by the bulk and single-document capture paths: read
// the primary's "write result" object (the shape of a single-document write
// response and of the inside of a bulk item) and locate, byte-exactly, the
// "get" member capture injected so it can be cut out of the client's answer.
// Internal to the proxy component.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem::proxy::detail {

struct WriteObject {
  std::string index;   // concrete index, as the primary answered
  std::string id;      // covers auto-generated ids
  std::string result;  // created / updated / deleted / not_found / noop
  int status = 0;      // "status" member (bulk items); 0 when absent
  int64_t seq_no = -1;
  int64_t primary_term = -1;
  bool has_error = false;
  bool has_get = false;
  std::optional<std::string> get_source;  // raw bytes of get._source when found
  // The "get" member plus the comma that separates it from a neighbour,
  // as offsets from the start of the buffer: erasing [begin, end) leaves a
  // well-formed object and every other byte as the primary sent it.
  size_t erase_begin = 0;
  size_t erase_end = 0;
};

// Reads the members tandem needs from `obj`. `base`/`allocated` describe the
// padded buffer the object lives in (for offsets and for re-parsing the
// "get" member). Unknown members are skipped. Errors are kProtocol.
Result<WriteObject> read_write_object(simdjson::ondemand::object obj, const char* base,
                                      size_t allocated);

std::string_view trim_json_ws(std::string_view s);

// Full validation (simdjson DOM). Events embed sources verbatim, so a source
// must be valid JSON; ES's own parser is more lenient (comments...).
bool is_valid_json(std::string_view s);

// Reads a scalar member as text: strings unescaped, numbers/booleans as
// their raw token; null -> nullopt. ES accepts `"_id": 1` and
// `"routing": 5` and treats them as text.
Result<std::optional<std::string>> scalar_text(simdjson::ondemand::value v, std::string_view what);

}  // namespace tandem::proxy::detail
