// On-disk format of the file log: record framing and file names. Kept apart
// from file_log.cc so tests can build and damage records byte by byte.
// The format is described for humans in docs/file-log-format.md; keep both
// in step.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::log::file_log_format {

// Record = [u32 length][u32 crc32c(payload)][payload], little endian.
// payload = [u64 offset][i64 timestamp_ms][u32 key_length][key][value].
constexpr size_t kHeaderBytes = 8;
constexpr size_t kPayloadFixedBytes = 20;
// An upper bound that keeps a damaged length field from asking for an
// absurd read; appends above it are refused.
constexpr uint32_t kMaxPayloadBytes = (1u << 30) - 1;

inline size_t record_size(size_t key_len, size_t value_len) {
  return kHeaderBytes + kPayloadFixedBytes + key_len + value_len;
}

// Appends one framed record to `out`.
void append_record(std::string& out, int64_t offset, int64_t timestamp_ms, std::string_view key,
                   std::string_view value);

struct ParsedRecord {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string_view key;
  std::string_view value;
  size_t size = 0;  // framed size, header included
};

enum class ParseStatus {
  kOk,
  kNeedMore,   // fewer bytes available than the header or length asks for
  kBadLength,  // length below the fixed payload or above kMaxPayloadBytes
  kBadCrc,     // checksum mismatch
  kBadKeyLen,  // CRC fine but key_length exceeds the payload: a writer bug
};

// Parses the record at p[0, avail). On kNeedMore, *need (if given) is the
// number of bytes required (header only, or the whole record).
ParseStatus parse_record(const char* p, size_t avail, ParsedRecord* out, size_t* need = nullptr);

// "00000000000000001234.seg": base offset, 20 digits so names sort.
std::string segment_file_name(int64_t base_offset);
// Parses a segment file name; returns -1 if it is not one.
int64_t parse_segment_file_name(std::string_view name);

}  // namespace tandem::log::file_log_format
