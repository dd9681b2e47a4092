// The one JSON string escaper (declared in event.h).
#include <simdjson.h>

#include <cstdint>

#include "event/event.h"

namespace tandem::event {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void append_escaped_valid(std::string& out, std::string_view s) {
  size_t run = 0;  // start of the current run of bytes that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 with *bad set to the length of
// the maximal ill-formed subpart there (>= 1), which becomes one U+FFFD.
size_t utf8_seq(std::string_view s, size_t i, size_t* bad) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogate
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  size_t k = 1;
  for (; k < need && i + k < s.size(); ++k) {
    const auto x = static_cast<unsigned char>(s[i + k]);
    if (x < (k == 1 ? lo : 0x80) || x > (k == 1 ? hi : 0xBF)) break;
  }
  if (k == need) return need;
  *bad = k;
  return 0;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  if (simdjson::validate_utf8(s.data(), s.size())) {
    append_escaped_valid(out, s);
  } else {
    // Rare path: walk sequence by sequence, replacing each maximal
    // ill-formed subpart with one U+FFFD.
    size_t i = 0;
    while (i < s.size()) {
      size_t bad = 0;
      size_t n = utf8_seq(s, i, &bad);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD
        i += bad;
      } else {
        append_escaped_valid(out, s.substr(i, n));
        i += n;
      }
    }
  }
  out += '"';
}

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

}  // namespace tandem::event
