#include "log/file_log_format.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "log/file_log_crc32c.h"

namespace tandem::log::file_log_format {
namespace {

// The format is little endian by definition; memcpy of native integers is
// only correct on little-endian hosts, which is all tandem targets (x86-64,
// aarch64). Fail the build elsewhere rather than write a different format.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "file log format is little endian");

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

void append_record(std::string& out, int64_t offset, int64_t timestamp_ms, std::string_view key,
                   std::string_view value) {
  const size_t start = out.size();
  const auto payload_len = static_cast<uint32_t>(kPayloadFixedBytes + key.size() + value.size());
  put<uint32_t>(out, payload_len);
  put<uint32_t>(out, 0);  // crc, patched below once the payload is in place
  put<uint64_t>(out, static_cast<uint64_t>(offset));
  put<int64_t>(out, timestamp_ms);
  put<uint32_t>(out, static_cast<uint32_t>(key.size()));
  out.append(key);
  out.append(value);
  const uint32_t crc = file_log_crc32c_extend(0, out.data() + start + kHeaderBytes, payload_len);
  std::memcpy(out.data() + start + 4, &crc, 4);
}

ParseStatus parse_record(const char* p, size_t avail, ParsedRecord* out, size_t* need) {
  if (avail < kHeaderBytes) {
    if (need) *need = kHeaderBytes;
    return ParseStatus::kNeedMore;
  }
  const auto len = get<uint32_t>(p);
  if (len < kPayloadFixedBytes || len > kMaxPayloadBytes) return ParseStatus::kBadLength;
  const size_t total = kHeaderBytes + len;
  if (avail < total) {
    if (need) *need = total;
    return ParseStatus::kNeedMore;
  }
  const auto crc = get<uint32_t>(p + 4);
  const char* payload = p + kHeaderBytes;
  if (file_log_crc32c_extend(0, payload, len) != crc) return ParseStatus::kBadCrc;
  const auto key_len = get<uint32_t>(payload + 16);
  if (key_len > len - kPayloadFixedBytes) return ParseStatus::kBadKeyLen;
  out->offset = static_cast<int64_t>(get<uint64_t>(payload));
  out->timestamp_ms = get<int64_t>(payload + 8);
  out->key = std::string_view(payload + kPayloadFixedBytes, key_len);
  out->value =
      std::string_view(payload + kPayloadFixedBytes + key_len, len - kPayloadFixedBytes - key_len);
  out->size = total;
  return ParseStatus::kOk;
}

std::string segment_file_name(int64_t base_offset) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020lld.seg", static_cast<long long>(base_offset));
  return buf;
}

int64_t parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".seg") return -1;
  int64_t v = -1;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return -1;
  }
  auto r = std::from_chars(name.data(), name.data() + 20, v);
  if (r.ec != std::errc() || r.ptr != name.data() + 20) return -1;
  return v;
}

}  // namespace tandem::log::file_log_format
