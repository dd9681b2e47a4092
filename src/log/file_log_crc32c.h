// CRC-32C (Castagnoli), the checksum of file log records. Castagnoli
// rather than zlib's CRC-32 because x86 computes it in hardware (SSE4.2)
// and it detects more error patterns at the record sizes we write; it is
// the same polynomial leveldb, RocksDB and Kafka's record batches use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tandem::log {

// Extends `crc` (0 for a fresh checksum) with data[0, n).
uint32_t file_log_crc32c_extend(uint32_t crc, const void* data, size_t n);

inline uint32_t file_log_crc32c(std::string_view s) {
  return file_log_crc32c_extend(0, s.data(), s.size());
}

}  // namespace tandem::log
