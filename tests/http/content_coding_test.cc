// Content codings: what a client that accepts gzip gets from Elasticsearch,
// and what Logstash sends, read and written back.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "http/http.h"

namespace tandem::http {
namespace {

std::string sample() {
  std::string s;
  for (int i = 0; i < 2000; ++i)
    s += R"({"index":{"_id":")" + std::to_string(i) + "\"}}\n{\"n\":1}\n";
  return s;
}

// Raw RFC 1951 data, as some clients send under "deflate".
std::string raw_deflate(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  return out;
}

TEST(ContentCoding, ParsesHeaderValues) {
  EXPECT_EQ(parse_content_coding(""), ContentCoding::kIdentity);
  EXPECT_EQ(parse_content_coding("identity"), ContentCoding::kIdentity);
  EXPECT_EQ(parse_content_coding(" GZip "), ContentCoding::kGzip);
  EXPECT_EQ(parse_content_coding("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(parse_content_coding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(parse_content_coding("br"), ContentCoding::kUnknown);
  EXPECT_EQ(parse_content_coding("gzip, br"), ContentCoding::kUnknown);
}

TEST(ContentCoding, GzipAndDeflateRoundTrip) {
  const std::string text = sample();
  for (ContentCoding c : {ContentCoding::kGzip, ContentCoding::kDeflate}) {
    auto enc = encode_content(c, text);
    ASSERT_TRUE(enc.is_ok());
    EXPECT_LT(enc->size(), text.size() / 4);
    auto dec = decode_content(c, *enc, 1 << 30);
    ASSERT_TRUE(dec.is_ok()) << dec.status().to_string();
    EXPECT_EQ(*dec, text);
  }
  // gzip magic bytes; zlib header for deflate.
  EXPECT_EQ(encode_content(ContentCoding::kGzip, "x")->substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(static_cast<unsigned char>((*encode_content(ContentCoding::kDeflate, "x"))[0]), 0x78);
}

TEST(ContentCoding, DeflateAcceptsRawStreamsToo) {
  auto dec = decode_content(ContentCoding::kDeflate, raw_deflate(sample()), 1 << 30);
  ASSERT_TRUE(dec.is_ok()) << dec.status().to_string();
  EXPECT_EQ(*dec, sample());
}

TEST(ContentCoding, EmptyBodyRoundTrips) {
  auto enc = encode_content(ContentCoding::kGzip, "");
  ASSERT_TRUE(enc.is_ok());
  auto dec = decode_content(ContentCoding::kGzip, *enc, 10);
  ASSERT_TRUE(dec.is_ok());
  EXPECT_TRUE(dec->empty());
}

TEST(ContentCoding, TruncatedCorruptAndTrailingBytesAreProtocolErrors) {
  std::string z = *encode_content(ContentCoding::kGzip, sample());
  auto truncated = decode_content(ContentCoding::kGzip, z.substr(0, z.size() / 2), 1 << 30);
  EXPECT_EQ(truncated.status().code(), Code::kProtocol);
  std::string corrupt = z;
  corrupt[corrupt.size() / 2] ^= 0x55;
  EXPECT_FALSE(decode_content(ContentCoding::kGzip, corrupt, 1 << 30).is_ok());
  auto trailing = decode_content(ContentCoding::kGzip, z + "junk", 1 << 30);
  EXPECT_EQ(trailing.status().code(), Code::kProtocol);
  EXPECT_NE(trailing.status().message().find("after the end"), std::string::npos);
  EXPECT_EQ(decode_content(ContentCoding::kGzip, "not gzip", 1 << 30).status().code(),
            Code::kProtocol);
}

TEST(ContentCoding, DecompressionBombStopsAtTheLimit) {
  std::string zeros(8 << 20, '\0');
  std::string z = *encode_content(ContentCoding::kGzip, zeros);
  ASSERT_LT(z.size(), 64u * 1024);
  auto dec = decode_content(ContentCoding::kGzip, z, 1 << 20);
  EXPECT_EQ(dec.status().code(), Code::kResourceExhausted);
  EXPECT_TRUE(decode_content(ContentCoding::kGzip, z, 8 << 20).is_ok());
}

TEST(ContentCoding, UnknownCodingIsRefused) {
  EXPECT_EQ(decode_content(ContentCoding::kUnknown, "x", 10).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(encode_content(ContentCoding::kUnknown, "x").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::http
