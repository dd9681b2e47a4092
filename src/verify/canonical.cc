// Canonical content hashing, field-level diffs and bucket digests for
// verify --deep. What counts as equal is documented in docs/verify.md
// ("What --deep treats as equal"); keep the two in step.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "core/scratch.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

namespace od = simdjson::ondemand;

// splitmix64's finalizer: spreads every input bit over the output, so sums
// of mixed values (order-independent combination) do not cancel out.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A streaming hash over a token stream, 8 bytes per round (xxHash64's
// round: multiply, rotate, multiply), finished by mix(). Every token is
// tagged and strings are length-prefixed, so no two different token
// sequences feed the same words. Not cryptographic (docs/verify.md).
struct Fnv {
  static constexpr uint64_t kP1 = 0x9E3779B185EBCA87ULL;
  static constexpr uint64_t kP2 = 0xC2B2AE3D27D4EB4FULL;
  uint64_t h = 0x27D4EB2F165667C5ULL;
  void u64(uint64_t v) {
    v *= kP2;
    v = (v << 31) | (v >> 33);
    v *= kP1;
    h ^= v;
    h = ((h << 27) | (h >> 37)) * kP1 + 0x85EBCA77C2B2AE63ULL;
  }
  void tag(char t) { u64(0x7400000000000000ULL | static_cast<unsigned char>(t)); }
  void str(std::string_view s) {
    u64(s.size());
    const char* p = s.data();
    size_t n = s.size();
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      u64(w);
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      u64(w);
    }
  }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t' ||
          s.back() == ',' || s.back() == ']' || s.back() == '}')) {
    s.remove_suffix(1);
  }
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  return s;
}

// The canonical form of a number: an integer (any spelling whose value is
// an exact integer that fits 64 bits: 1, 1.0, 1e0, 10e-1) or else the IEEE
// double the text rounds to (1.5 == 1.50 == 15e-1). Text out of double
// range is kept as written.
struct NumKey {
  char tag = 'I';  // I: int64, U: uint64 above int64, D: double bits, R: raw text
  uint64_t bits = 0;
  std::string_view raw;
};

NumKey num_from_double(double d) {
  NumKey k;
  if (std::isfinite(d) && std::trunc(d) == d) {
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      k.tag = 'I';
      k.bits = static_cast<uint64_t>(static_cast<int64_t>(d));
      return k;
    }
    if (d >= 0 && d < 18446744073709551616.0) {
      k.tag = 'U';
      k.bits = static_cast<uint64_t>(d);
      return k;
    }
  }
  k.tag = 'D';
  std::memcpy(&k.bits, &d, sizeof d);
  return k;
}

NumKey num_key(std::string_view text) {
  text = trim(text);
  const char* b = text.data();
  const char* e = b + text.size();
  int64_t i = 0;
  if (auto [p, ec] = std::from_chars(b, e, i); ec == std::errc() && p == e) {
    return NumKey{'I', static_cast<uint64_t>(i), {}};
  }
  uint64_t u = 0;
  if (auto [p, ec] = std::from_chars(b, e, u); ec == std::errc() && p == e) {
    return NumKey{'U', u, {}};
  }
  double d = 0;
  if (auto [p, ec] = std::from_chars(b, e, d); ec == std::errc() && p == e) {
    return num_from_double(d);
  }
  return NumKey{'R', 0, text};
}

void feed_num(Fnv& h, const NumKey& k) {
  h.tag('N');
  h.tag(k.tag);
  if (k.tag == 'R') {
    h.str(k.raw);
  } else {
    h.u64(k.bits);
  }
}

struct Ctx {
  const std::vector<std::string>* ignore = nullptr;
  std::string path;
  bool ignored(std::string_view key) const {
    if (ignore == nullptr || ignore->empty()) return false;
    for (const auto& p : *ignore) {
      if (path.empty()
              ? p == key
              : (p.size() == path.size() + 1 + key.size() && p.compare(0, path.size(), path) == 0 &&
                 p[path.size()] == '.' && p.compare(path.size() + 1, key.size(), key) == 0)) {
        return true;
      }
    }
    return false;
  }
};

simdjson::error_code hash_value(od::value v, Ctx& ctx, uint64_t* out);

simdjson::error_code hash_object(od::object o, Ctx& ctx, uint64_t* out) {
  // Members combine by a sum of mixed (key, value) hashes: key order does
  // not matter, a value moved to another key does.
  uint64_t acc = 0, n = 0;
  for (auto field : o) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return e;
    if (ctx.ignored(key)) continue;
    // Hash the key before descending: its view points into the parser's
    // string buffer, which the value's strings are appended to.
    Fnv pair;
    pair.tag('K');
    pair.str(key);
    size_t saved = ctx.path.size();
    if (ctx.ignore != nullptr && !ctx.ignore->empty()) {
      if (!ctx.path.empty()) ctx.path += '.';
      ctx.path.append(key.data(), key.size());
    }
    od::value child;
    if (auto e = field.value().get(child)) return e;
    uint64_t vh = 0;
    auto e = hash_value(child, ctx, &vh);
    ctx.path.resize(saved);
    if (e) return e;
    pair.u64(vh);
    acc += mix(pair.h);
    ++n;
  }
  Fnv h;
  h.tag('O');
  h.u64(n);
  h.u64(acc);
  *out = mix(h.h);
  return simdjson::SUCCESS;
}

simdjson::error_code hash_array(od::array a, Ctx& ctx, uint64_t* out) {
  Fnv h;
  h.tag('A');
  uint64_t n = 0;
  // Paths do not descend into arrays: ignore paths name object members.
  std::string saved_path;
  std::swap(saved_path, ctx.path);
  const auto* saved_ignore = ctx.ignore;
  ctx.ignore = nullptr;
  simdjson::error_code err = simdjson::SUCCESS;
  for (auto el : a) {
    od::value v;
    if ((err = el.get(v))) break;
    uint64_t vh = 0;
    if ((err = hash_value(v, ctx, &vh))) break;
    h.u64(vh);
    ++n;
  }
  std::swap(saved_path, ctx.path);
  ctx.ignore = saved_ignore;
  if (err) return err;
  h.u64(n);
  *out = mix(h.h);
  return simdjson::SUCCESS;
}

simdjson::error_code hash_value(od::value v, Ctx& ctx, uint64_t* out) {
  od::json_type t;
  if (auto e = v.type().get(t)) return e;
  Fnv h;
  switch (t) {
    case od::json_type::object: {
      od::object o;
      if (auto e = v.get_object().get(o)) return e;
      return hash_object(o, ctx, out);
    }
    case od::json_type::array: {
      od::array a;
      if (auto e = v.get_array().get(a)) return e;
      return hash_array(a, ctx, out);
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto e = v.get_string().get(s)) return e;  // unescaped: "\u00e9" == "é"
      h.tag('S');
      h.str(s);
      break;
    }
    case od::json_type::number: {
      std::string_view raw = v.raw_json_token();
      feed_num(h, num_key(raw));
      break;
    }
    case od::json_type::boolean: {
      bool b = false;
      if (auto e = v.get_bool().get(b)) return e;
      h.tag(b ? 'T' : 'F');
      break;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = v.is_null().get(is_null)) return e;
      h.tag('Z');
      break;
    }
  }
  *out = mix(h.h);
  return simdjson::SUCCESS;
}

NumKey num_key(const nlohmann::json& j) {
  if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return NumKey{'I', u, {}};
    }
    return NumKey{'U', u, {}};
  }
  if (j.is_number_integer()) return NumKey{'I', static_cast<uint64_t>(j.get<int64_t>()), {}};
  return num_from_double(j.get<double>());
}

std::string show(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  constexpr size_t kMax = 48;
  if (s.size() > kMax) {
    s.resize(kMax);
    s += "...";
  }
  return s;
}

bool path_ignored(const std::vector<std::string>& ignore, const std::string& path) {
  return std::find(ignore.begin(), ignore.end(), path) != ignore.end();
}

void diff_rec(const std::string& path, bool in_array, const nlohmann::json& a,
              const nlohmann::json& b, const std::vector<std::string>& ignore,
              std::vector<std::string>& out, size_t& total) {
  if (canonical_equal(a, b)) return;
  auto emit = [&](std::string line) {
    ++total;
    out.push_back(std::move(line));
  };
  const std::string shown = path.empty() ? "(root)" : path;
  if (a.is_object() && b.is_object()) {
    std::vector<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.push_back(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) {
      if (!a.contains(it.key())) keys.push_back(it.key());
    }
    std::sort(keys.begin(), keys.end());
    for (const auto& k : keys) {
      std::string p = path.empty() ? k : path + "." + k;
      if (!in_array && path_ignored(ignore, p)) continue;
      auto ia = a.find(k);
      auto ib = b.find(k);
      if (ib == b.end()) {
        emit(p + ": removed " + show(*ia));
      } else if (ia == a.end()) {
        emit(p + ": added " + show(*ib));
      } else {
        diff_rec(p, in_array, *ia, *ib, ignore, out, total);
      }
    }
    return;
  }
  if (a.is_array() && b.is_array()) {
    size_t n = std::max(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      std::string p = path + "[" + std::to_string(i) + "]";
      if (i >= a.size()) {
        emit(p + ": added " + show(b[i]));
      } else if (i >= b.size()) {
        emit(p + ": removed " + show(a[i]));
      } else {
        diff_rec(p, true, a[i], b[i], ignore, out, total);
      }
    }
    return;
  }
  emit(shown + ": " + show(a) + " -> " + show(b));
}

}  // namespace

Result<uint64_t> canonical_hash(std::string_view json, const std::vector<std::string>& ignore) {
  // One parser and one padded buffer per thread: scans hash every document
  // of an index, and allocating per document would dominate. A rare huge
  // document's buffers are not kept (core/scratch.h).
  thread_local od::parser parser;
  thread_local std::string buf;
  const ScratchBound keep_parser(parser);
  const ScratchBound keep_buf(buf);
  const size_t readable = padded_copy(buf, json, simdjson::SIMDJSON_PADDING);
  auto bad = [&](simdjson::error_code e) {
    return Status(Code::kInvalidArgument,
                  std::string("_source is not valid JSON: ") + simdjson::error_message(e));
  };
  od::document doc;
  if (auto e = parser.iterate(buf.data(), json.size(), readable).get(doc)) return bad(e);
  Ctx ctx;
  ctx.ignore = &ignore;
  uint64_t out = 0;
  od::json_type t;
  if (auto e = doc.type().get(t)) return bad(e);
  if (t == od::json_type::object || t == od::json_type::array) {
    od::value v;
    if (auto e = doc.get_value().get(v)) return bad(e);
    if (auto e = hash_value(v, ctx, &out)) return bad(e);
  } else {
    // A scalar document (never an Elasticsearch _source, which is an
    // object): hash its trimmed text.
    std::string_view raw;
    if (auto e = doc.raw_json_token().get(raw)) return bad(e);
    Fnv h;
    h.tag('X');
    h.str(trim(raw));
    out = mix(h.h);
  }
  return out;
}

bool canonical_equal(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) {
    NumKey x = num_key(a), y = num_key(b);
    return x.tag == y.tag && x.bits == y.bits;
  }
  if (a.type() != b.type()) return false;
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto jt = b.find(it.key());
      if (jt == b.end() || !canonical_equal(*it, *jt)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!canonical_equal(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b;
}

std::vector<std::string> field_diff(std::string_view primary_json, std::string_view secondary_json,
                                    const std::vector<std::string>& ignore, size_t max_lines) {
  auto a = nlohmann::json::parse(primary_json, nullptr, false);
  auto b = nlohmann::json::parse(secondary_json, nullptr, false);
  if (a.is_discarded() || b.is_discarded()) {
    return {std::string("(not comparable: ") + (a.is_discarded() ? "primary" : "secondary") +
            " _source is not JSON)"};
  }
  std::vector<std::string> out;
  size_t total = 0;
  diff_rec("", false, a, b, ignore, out, total);
  if (out.empty()) {
    // Canonically equal documents differ only in spelling (e.g. a
    // duplicate key, which the hash keeps and the parsed form collapses).
    out.push_back("(equal after parsing; the raw _source differs, e.g. a duplicate key)");
  }
  if (out.size() > max_lines) {
    size_t more = out.size() - max_lines;
    out.resize(max_lines);
    out.push_back("... " + std::to_string(more) + " more");
  }
  return out;
}

uint64_t id_hash(std::string_view id) {
  Fnv h;
  h.tag('I');
  h.str(id);
  return mix(h.h);
}

uint64_t doc_digest(uint64_t idh, const std::optional<std::string>& routing,
                    uint64_t content_hash) {
  Fnv h;
  h.u64(idh);
  if (routing) {
    h.tag('R');
    h.str(*routing);
  } else {
    h.tag('-');
  }
  h.u64(content_hash);
  return mix(h.h);
}

BucketSet::BucketSet(size_t buckets)
    : sum_(std::max<size_t>(1, buckets), 0), count_(std::max<size_t>(1, buckets), 0) {}

void BucketSet::add(uint64_t idh, uint64_t digest) {
  size_t b = bucket_of(idh);
  sum_[b] += digest;
  ++count_[b];
}

void BucketSet::merge(const BucketSet& o) {
  for (size_t i = 0; i < sum_.size() && i < o.sum_.size(); ++i) {
    sum_[i] += o.sum_[i];
    count_[i] += o.count_[i];
  }
}

uint64_t BucketSet::total() const {
  uint64_t n = 0;
  for (uint64_t c : count_) n += c;
  return n;
}

std::vector<uint32_t> BucketSet::differing(const BucketSet& o) const {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < sum_.size(); ++i) {
    if (i >= o.sum_.size() || sum_[i] != o.sum_[i] || count_[i] != o.count_[i]) {
      out.push_back(static_cast<uint32_t>(i));
    }
  }
  return out;
}

size_t bucket_count(uint64_t docs) {
  return static_cast<size_t>(std::clamp<uint64_t>(docs / 16, 1, 65536));
}

std::vector<std::vector<uint32_t>> plan_drilldown(const BucketSet& a, const BucketSet& b,
                                                  const std::vector<uint32_t>& differing,
                                                  size_t max_docs) {
  std::vector<std::vector<uint32_t>> groups;
  uint64_t held = 0;
  for (uint32_t bk : differing) {
    uint64_t n = (bk < a.size() ? a.count(bk) : 0) + (bk < b.size() ? b.count(bk) : 0);
    if (groups.empty() || (held + n > max_docs && !groups.back().empty())) {
      groups.emplace_back();
      held = 0;
    }
    groups.back().push_back(bk);
    held += n;
  }
  return groups;
}

}  // namespace tandem::verify
