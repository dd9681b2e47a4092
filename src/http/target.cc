// Request targets: splitting, percent-decoding byte-exactly, query
// parameters, and percent-encoding. The one home for these (the proxy's
// classification and capture, meta's replay of captured writes, and the
// es client's paths all use it). No dependency beyond the standard library,
// so the fuzz targets compile it alone.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/http.h"

namespace tandem::http {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

SplitTarget split_target(std::string_view target) {
  // A fragment never reaches a server, but tolerate one rather than let it
  // leak into the last segment.
  if (size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::string percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segs;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) segs.push_back(percent_decode(path.substr(pos, slash - pos)));
    pos = slash + 1;
  }
  return segs;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view pair = query.substr(pos, amp - pos);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (!key.empty() && percent_decode(key, true) == name) {
      if (eq == std::string_view::npos) return std::string();
      return percent_decode(pair.substr(eq + 1), true);
    }
    pos = amp + 1;
  }
  return std::nullopt;
}

std::string add_query_param(std::string_view target, std::string_view name,
                            std::string_view value) {
  SplitTarget t = split_target(target);
  std::string out(t.path);
  out += '?';
  if (!t.query.empty()) {
    out += t.query;
    out += '&';
  }
  out += name;
  out += '=';
  out += value;
  return out;
}

std::string percent_encode(std::string_view raw, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(raw.size() * 3);
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '~' || c == '.';
    if (unreserved || (c != 0 && keep.find(ch) != std::string_view::npos)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string encode_path_segment(std::string_view raw, std::string_view keep) {
  // A segment made only of dots ("." or "..") would be a dot-segment that
  // clients and proxies normalise away (RFC 3986 5.2.4); encoding the dots
  // keeps it a literal id.
  if (!raw.empty() && raw.find_first_not_of('.') == std::string_view::npos) {
    std::string out;
    for (size_t i = 0; i < raw.size(); ++i) out += "%2E";
    return out;
  }
  return percent_encode(raw, keep);
}

}  // namespace tandem::http
