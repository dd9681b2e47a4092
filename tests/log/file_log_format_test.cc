#include "log/file_log_format.h"

#include <gtest/gtest.h>

#include "log/file_log_crc32c.h"

namespace tandem::log::file_log_format {
namespace {

TEST(FileLogCrc32c, KnownVectors) {
  // RFC 3720 B.4 / the usual check value.
  EXPECT_EQ(file_log_crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(file_log_crc32c(""), 0u);
  EXPECT_EQ(file_log_crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(file_log_crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  // Extending in pieces equals one pass, at every split (covers the
  // 8-byte fast path and the byte tail).
  std::string s = "The quick brown fox jumps over the lazy dog, 0123456789";
  for (size_t k = 0; k <= s.size(); ++k) {
    uint32_t c = file_log_crc32c_extend(0, s.data(), k);
    c = file_log_crc32c_extend(c, s.data() + k, s.size() - k);
    EXPECT_EQ(c, file_log_crc32c(s)) << k;
  }
}

TEST(FileLogFormat, RecordRoundTripAndLayout) {
  std::string buf;
  append_record(buf, 42, 1732300000000, "key", "value");
  ASSERT_EQ(buf.size(), record_size(3, 5));
  // length = payload bytes, little endian.
  EXPECT_EQ(static_cast<uint8_t>(buf[0]), 20 + 3 + 5);
  EXPECT_EQ(buf[1], 0);
  EXPECT_EQ(buf.substr(8 + 20, 3), "key");
  EXPECT_EQ(buf.substr(8 + 23), "value");
  ParsedRecord r;
  ASSERT_EQ(parse_record(buf.data(), buf.size(), &r), ParseStatus::kOk);
  EXPECT_EQ(r.offset, 42);
  EXPECT_EQ(r.timestamp_ms, 1732300000000);
  EXPECT_EQ(r.key, "key");
  EXPECT_EQ(r.value, "value");
  EXPECT_EQ(r.size, buf.size());
}

TEST(FileLogFormat, ParseDetectsShortAndDamagedRecords) {
  std::string buf;
  append_record(buf, 7, 0, "k", std::string(100, 'v'));
  ParsedRecord r;
  size_t need = 0;
  EXPECT_EQ(parse_record(buf.data(), 5, &r, &need), ParseStatus::kNeedMore);
  EXPECT_EQ(need, kHeaderBytes);
  EXPECT_EQ(parse_record(buf.data(), buf.size() - 1, &r, &need), ParseStatus::kNeedMore);
  EXPECT_EQ(need, buf.size());
  for (size_t i = 4; i < buf.size(); ++i) {
    std::string bad = buf;
    bad[i] ^= 0x01;
    EXPECT_EQ(parse_record(bad.data(), bad.size(), &r), ParseStatus::kBadCrc) << "byte " << i;
  }
  std::string tiny = buf;
  tiny[0] = 3;
  tiny[1] = tiny[2] = tiny[3] = 0;
  EXPECT_EQ(parse_record(tiny.data(), tiny.size(), &r), ParseStatus::kBadLength);
  std::string zeros(64, '\0');
  EXPECT_EQ(parse_record(zeros.data(), zeros.size(), &r), ParseStatus::kBadLength);
}

TEST(FileLogFormat, SegmentNames) {
  EXPECT_EQ(segment_file_name(0), "00000000000000000000.seg");
  EXPECT_EQ(segment_file_name(1234), "00000000000000001234.seg");
  EXPECT_EQ(parse_segment_file_name("00000000000000001234.seg"), 1234);
  EXPECT_EQ(parse_segment_file_name("0000000000000001234.seg"), -1);
  EXPECT_EQ(parse_segment_file_name("0000000000000000123x.seg"), -1);
  EXPECT_EQ(parse_segment_file_name("00000000000000001234.seg.tmp"), -1);
}

}  // namespace
}  // namespace tandem::log::file_log_format
