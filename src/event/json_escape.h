// JSON string escaping for the event envelope (and anyone else in tandem
// that writes JSON by hand and needs byte-stable output).
#pragma once

#include <string>
#include <string_view>

namespace tandem::event {

// Appends `s` as a quoted JSON string. Escapes '"', '\\' and every control
// character below 0x20 as \u00XX (one rule, no short forms, so the output is
// easy to state and to golden-test). Everything else, including '/', DEL
// and non-ASCII UTF-8, is copied as is. Bytes that are not valid UTF-8 are
// replaced by U+FFFD, one per maximal invalid subpart: JSON cannot carry
// them, and callers that need exact bytes (document ids) check
// validate_utf8 first and use base64 instead.
void append_json_string(std::string& out, std::string_view s);

}  // namespace tandem::event
