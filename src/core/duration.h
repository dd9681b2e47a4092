// Durations as operators write them in config files and query strings:
// "500ms", "30s", "2m", "1h", or a bare number of milliseconds.
#pragma once

#include <chrono>
#include <string_view>

#include "core/status.h"

namespace tandem {

Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace tandem
