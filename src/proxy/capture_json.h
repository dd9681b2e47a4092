// JSON helpers shared by the bulk and single-document capture paths for the
// client's request bytes (the primary's answers are read by es's
// parse_bulk_response / parse_write_response). Internal to the proxy
// component.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem::proxy::detail {

// Full validation (simdjson DOM). Events embed sources verbatim, so a source
// must be valid JSON; ES's own parser is more lenient (comments...).
bool is_valid_json(std::string_view s);

// Reads a scalar member as text: strings unescaped, numbers/booleans as
// their raw token; null -> nullopt. ES accepts `"_id": 1` and
// `"routing": 5` and treats them as text.
Result<std::optional<std::string>> scalar_text(simdjson::ondemand::value v, std::string_view what);

}  // namespace tandem::proxy::detail
