#include "core/duration.h"

#include <cctype>
#include <string>

namespace tandem {

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && n <= (1ull << 40)) {
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0 || n > (1ull << 40)) {
    return error(Code::kInvalidArgument,
                 "'" + std::string(text) + "' is not a duration (e.g. 500ms, 30s, 2m)");
  }
  std::string unit(text.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto v = static_cast<int64_t>(n);
  if (unit.empty() || unit == "ms") return std::chrono::milliseconds(v);
  if (unit == "s") return std::chrono::milliseconds(v * 1000);
  if (unit == "m") return std::chrono::milliseconds(v * 60'000);
  if (unit == "h") return std::chrono::milliseconds(v * 3'600'000);
  return error(Code::kInvalidArgument,
               "'" + std::string(text) + "' has an unknown time unit (ms, s, m, h)");
}

}  // namespace tandem
