// Url::parse / to_string (request targets and percent-coding: target.cc).
//
// Base URLs come from the command line and config files, so the parser is
// strict and its errors say what to type instead. It never echoes userinfo:
// a URL like http://elastic:hunter2@es:9200 is refused without repeating
// "hunter2" into a terminal, a log or a CI transcript.
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>

#include "http/http.h"

namespace tandem::http {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Where the authority of `text` ends: the first '/', '?' or '#' after "://"
// (or after the start when there is no scheme).
size_t authority_end(std::string_view text) {
  size_t sep = text.find("://");
  size_t from = sep == std::string_view::npos ? 0 : sep + 3;
  size_t end = text.find_first_of("/?#", from);
  return end == std::string_view::npos ? text.size() : end;
}

// True when text has userinfo ("user:pass@") before its path.
bool has_userinfo(std::string_view text) {
  return text.substr(0, authority_end(text)).find('@') != std::string_view::npos;
}

// `text` with anything up to the last '@' of the authority dropped, so
// nothing of the userinfo (or a mangled scheme around it) is ever quoted.
std::string without_userinfo(std::string_view text) {
  size_t end = authority_end(text);
  size_t at = text.substr(0, end).rfind('@');
  if (at == std::string_view::npos) return std::string(text);
  size_t sep = text.find("://");
  std::string scheme = sep != std::string_view::npos && sep < at
                           ? std::string(text.substr(0, sep + 3))
                           : std::string();
  return scheme + std::string(text.substr(at + 1));
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

Status invalid(std::string msg) {
  return error(Code::kInvalidArgument, std::move(msg));
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.empty()) return invalid("empty URL: expected http://host:port or https://host:port");
  if (has_userinfo(text)) {
    // Quote only what follows the '@': the userinfo is a secret.
    return invalid(
        "credentials in URLs are not accepted; use TANDEM_<NAME>_USERNAME/PASSWORD env vars "
        "(or TANDEM_<NAME>_API_KEY) and give the URL as '" +
        without_userinfo(text) + "'");
  }
  const std::string shown(text);

  size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return invalid("missing scheme in '" + shown + "': use http://" + shown + " or https://" +
                   shown);
  }
  Url url;
  url.scheme = lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") {
    return invalid("unsupported scheme '" + std::string(text.substr(0, sep)) + "' in '" + shown +
                   "': use http:// or https://");
  }

  std::string_view rest = text.substr(sep + 3);
  size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view() : rest.substr(path_start);

  if (authority.empty()) return invalid("missing host in '" + shown + "'");

  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    // IPv6 literal: [::1]:9200
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid("unterminated IPv6 address in '" + shown + "': expected [addr]:port");
    }
    url.host = std::string(authority.substr(1, close - 1));
    for (char c : url.host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
        return invalid("invalid IPv6 address '" + url.host + "' in '" + shown + "'");
      }
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after ']' in '" + shown + "'");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    for (char c : url.host) {
      if (!valid_host_char(c)) return invalid("invalid host '" + url.host + "' in '" + shown + "'");
    }
  }
  if (url.host.empty()) return invalid("missing host in '" + shown + "'");

  if (has_port) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
        value == 0 || value > 65535) {
      return invalid("invalid port '" + std::string(port_text) + "' in '" + shown +
                     "': expected a number 1-65535");
    }
    url.port = static_cast<uint16_t>(value);
  } else {
    url.port = url.scheme == "https" ? 443 : 80;
  }

  if (path.find_first_of("?#") != std::string_view::npos) {
    return invalid("query or fragment in base URL '" + shown + "' is not supported");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.base_path = std::string(path);
  return url;
}

std::string Url::to_string() const {
  // The port is always shown: "http://es:80" makes a forgotten ":9200" obvious
  // in an error message.
  std::string out = scheme + "://";
  if (host.find(':') != std::string::npos) {
    out += "[" + host + "]";
  } else {
    out += host;
  }
  out += ":" + std::to_string(port) + base_path;
  return out;
}

}  // namespace tandem::http
