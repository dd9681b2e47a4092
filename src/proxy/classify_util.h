// Request-target helpers shared by classify and capture: splitting the
// target, percent-decoding path segments byte-exactly, and reading/adding
// query parameters. Internal to the proxy component.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::proxy::detail {

struct SplitTarget {
  std::string_view path;   // still percent-encoded, starts with '/' when well-formed
  std::string_view query;  // without the '?', "" when absent
};
SplitTarget split_target(std::string_view target);

// Percent-decodes a path segment. Bytes come out exactly as encoded, even
// when they are not UTF-8 (document ids are arbitrary bytes). '+' stays '+'
// in paths. A malformed escape ("%zz", a trailing "%") is kept literally:
// classification must not fail on it, and ES answers such requests itself.
std::string percent_decode(std::string_view s, bool plus_is_space = false);

// Decoded path segments. Empty segments ("//", a trailing '/') are dropped:
// that errs towards recognising a write rather than missing one.
std::vector<std::string> split_path(std::string_view path);

// The decoded value of the first `name` parameter ("" when present without
// a value), or nullopt when absent. Query values decode '+' as a space,
// like ES's RestUtils.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// Appends "name=value" (value taken as already encoded) to the target.
std::string add_query_param(std::string_view target, std::string_view name, std::string_view value);

}  // namespace tandem::proxy::detail
