// Content codings (RFC 9110 8.4.1) as Elasticsearch speaks them, over zlib.
//
// "gzip" is RFC 1952. "deflate" is, per RFC 9110 8.4.1.2, the zlib format
// (RFC 1950) -- what Elasticsearch's Netty compressor sends -- but some
// clients send raw RFC 1951 data under that name, so decoding accepts both.
#include <zlib.h>

#include <algorithm>
#include <cctype>

#include "http/http.h"

namespace tandem::http {
namespace {

constexpr int kGzipWindow = 15 + 16;  // zlib: windowBits + 16 = gzip wrapper
constexpr int kZlibWindow = 15;       // zlib wrapper (RFC 1950)
constexpr int kRawWindow = -15;       // raw deflate (RFC 1951)

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Result<std::string> inflate_with(int window, std::string_view in, uint64_t max_bytes,
                                 std::string_view name) {
  z_stream zs{};
  if (inflateInit2(&zs, window) != Z_OK) {
    return error(Code::kInternal, "inflateInit2 failed for " + std::string(name));
  }
  std::string out;
  out.resize(std::min<uint64_t>(std::max<size_t>(in.size() * 4, 4096), max_bytes));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  size_t produced = 0;
  int rc = Z_OK;
  while (true) {
    if (produced == out.size()) {
      if (out.size() >= max_bytes) {
        inflateEnd(&zs);
        return error(Code::kResourceExhausted, std::string(name) + " body decodes to more than " +
                                                   std::to_string(max_bytes) + " bytes");
      }
      out.resize(std::min<uint64_t>(out.size() * 2, max_bytes));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    rc = inflate(&zs, Z_NO_FLUSH);
    produced = out.size() - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_out == 0) continue;  // needs more room
    inflateEnd(&zs);
    std::string why = zs.msg ? zs.msg : (rc == Z_BUF_ERROR ? "truncated" : "corrupt");
    return error(Code::kProtocol, "invalid " + std::string(name) + " body: " + why);
  }
  // Trailing bytes after the end of the stream would be silently ignored by
  // a lenient decoder; they mean the body is not what its coding says.
  bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (trailing) {
    return error(Code::kProtocol,
                 "invalid " + std::string(name) + " body: data after the end of the stream");
  }
  out.resize(produced);
  return out;
}

}  // namespace

ContentCoding parse_content_coding(std::string_view header_value) {
  std::string_view v = trim(header_value);
  if (v.empty() || iequals(v, "identity")) return ContentCoding::kIdentity;
  if (iequals(v, "gzip") || iequals(v, "x-gzip")) return ContentCoding::kGzip;
  if (iequals(v, "deflate")) return ContentCoding::kDeflate;
  // Stacked codings ("gzip, br") or ones zlib cannot read.
  return ContentCoding::kUnknown;
}

Result<std::string> decode_content(ContentCoding coding, std::string_view body,
                                   uint64_t max_bytes) {
  switch (coding) {
    case ContentCoding::kIdentity:
      if (body.size() > max_bytes) {
        return error(Code::kResourceExhausted, "body of " + std::to_string(body.size()) +
                                                   " bytes exceeds " + std::to_string(max_bytes));
      }
      return std::string(body);
    case ContentCoding::kGzip:
      return inflate_with(kGzipWindow, body, max_bytes, "gzip");
    case ContentCoding::kDeflate: {
      auto zlib = inflate_with(kZlibWindow, body, max_bytes, "deflate");
      if (zlib.is_ok() || zlib.status().code() != Code::kProtocol) return zlib;
      return inflate_with(kRawWindow, body, max_bytes, "deflate");
    }
    case ContentCoding::kUnknown:
      break;
  }
  return error(Code::kInvalidArgument, "unsupported content coding");
}

Result<std::string> encode_content(ContentCoding coding, std::string_view body) {
  if (coding == ContentCoding::kIdentity) return std::string(body);
  if (coding == ContentCoding::kUnknown) {
    return error(Code::kInvalidArgument, "unsupported content coding");
  }
  z_stream zs{};
  int window = coding == ContentCoding::kGzip ? kGzipWindow : kZlibWindow;
  // Level 1: this re-encodes answers on the request path, where speed
  // matters more than the last few percent of size.
  if (deflateInit2(&zs, 1, Z_DEFLATED, window, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return error(Code::kInternal, "deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(body.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  zs.avail_in = static_cast<uInt>(body.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = out.size() - zs.avail_out;
  deflateEnd(&zs);
  // deflateBound guarantees room for one Z_FINISH call.
  if (rc != Z_STREAM_END) return error(Code::kInternal, "deflate did not finish");
  out.resize(produced);
  return out;
}

}  // namespace tandem::http
