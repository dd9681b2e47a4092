#include <gtest/gtest.h>

#include <string>

#include "http/http.h"

namespace tandem::http {
namespace {

TEST(Url, ParsesHostPortAndDefaults) {
  auto u = Url::parse("http://127.0.0.1:9200");
  ASSERT_TRUE(u.is_ok()) << u.status().to_string();
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 9200);
  EXPECT_EQ(u->base_path, "");
  EXPECT_EQ(u->to_string(), "http://127.0.0.1:9200");

  EXPECT_EQ(Url::parse("http://es.local")->port, 80);
  EXPECT_EQ(Url::parse("https://es.local")->port, 443);
  EXPECT_EQ(Url::parse("HTTPS://es.local:9243/")->scheme, "https");
  EXPECT_EQ(Url::parse("  http://es:9200  ")->host, "es");
}

TEST(Url, ToStringAlwaysShowsThePort) {
  // A forgotten ":9200" must be visible in error messages.
  EXPECT_EQ(Url::parse("http://es")->to_string(), "http://es:80");
}

TEST(Url, BasePathLosesTrailingSlashes) {
  auto u = Url::parse("https://proxy:8443/es/blue//");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->base_path, "/es/blue");
  EXPECT_EQ(u->to_string(), "https://proxy:8443/es/blue");
  EXPECT_EQ(Url::parse("http://es:9200/")->base_path, "");
}

TEST(Url, Ipv6Literal) {
  auto u = Url::parse("http://[::1]:9200/x");
  ASSERT_TRUE(u.is_ok()) << u.status().to_string();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9200);
  EXPECT_EQ(u->to_string(), "http://[::1]:9200/x");
  EXPECT_EQ(Url::parse("https://[fe80::1]")->port, 443);
  EXPECT_FALSE(Url::parse("http://[::1:9200").is_ok());
  EXPECT_FALSE(Url::parse("http://[::1]x").is_ok());
}

TEST(Url, UnsupportedSchemeNamesItAndWhatIsAccepted) {
  auto u = Url::parse("ftp://x");
  ASSERT_FALSE(u.is_ok());
  EXPECT_EQ(u.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(u.status().message(), "unsupported scheme 'ftp' in 'ftp://x': use http:// or https://");
  auto typo = Url::parse("htp://x");
  ASSERT_FALSE(typo.is_ok());
  EXPECT_EQ(typo.status().message(),
            "unsupported scheme 'htp' in 'htp://x': use http:// or https://");
}

TEST(Url, MissingSchemeSaysWhatToType) {
  auto u = Url::parse("localhost:9200");
  ASSERT_FALSE(u.is_ok());
  EXPECT_EQ(u.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(u.status().message(),
            "missing scheme in 'localhost:9200': use http://localhost:9200 or "
            "https://localhost:9200");
}

TEST(Url, RejectsEmptyAndBadPorts) {
  EXPECT_EQ(Url::parse("").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(Url::parse("   ").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(Url::parse("http://").is_ok());
  EXPECT_FALSE(Url::parse("http://:9200").is_ok());
  for (const char* bad : {"http://es:", "http://es:0", "http://es:65536", "http://es:92a0",
                          "http://es:-1", "http://es:99999999999"}) {
    auto u = Url::parse(bad);
    ASSERT_FALSE(u.is_ok()) << bad;
    EXPECT_NE(u.status().message().find("invalid port"), std::string::npos) << bad;
  }
  EXPECT_EQ(Url::parse("http://es:65535")->port, 65535);
}

TEST(Url, RejectsQueryAndOddHosts) {
  EXPECT_FALSE(Url::parse("http://es:9200/?pretty").is_ok());
  EXPECT_FALSE(Url::parse("http://es:9200#x").is_ok());
  EXPECT_FALSE(Url::parse("http://e s:9200").is_ok());
}

TEST(Url, UserinfoIsRejectedWithoutEchoingThePassword) {
  for (const char* text :
       {"http://elastic:hunter2@es:9200", "https://elastic:hunter2@es", "elastic:hunter2@es:9200",
        "ftp://elastic:hunter2@es", "http://elastic:hunter2@es:9200/path@x"}) {
    auto u = Url::parse(text);
    ASSERT_FALSE(u.is_ok()) << text;
    const std::string& msg = u.status().message();
    EXPECT_EQ(u.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("elastic"), std::string::npos) << msg;
    EXPECT_NE(msg.find("credentials in URLs are not accepted; use "
                       "TANDEM_<NAME>_USERNAME/PASSWORD env vars"),
              std::string::npos)
        << msg;
  }
}

TEST(EncodePathSegment, KeepsUnreservedOnly) {
  EXPECT_EQ(encode_path_segment("abcXYZ019-._~"), "abcXYZ019-._~");
  EXPECT_EQ(encode_path_segment("a b/c?d#e%f+g&h=i:j@k"),
            "a%20b%2Fc%3Fd%23e%25f%2Bg%26h%3Di%3Aj%40k");
  EXPECT_EQ(encode_path_segment(""), "");
}

TEST(EncodePathSegment, ByteExactForNonUtf8) {
  std::string raw("\xff\x00\x80z\xc3\xa9", 6);
  EXPECT_EQ(encode_path_segment(raw), "%FF%00%80z%C3%A9");
}

TEST(EncodePathSegment, DotSegmentsStayLiteral) {
  EXPECT_EQ(encode_path_segment("."), "%2E");
  EXPECT_EQ(encode_path_segment(".."), "%2E%2E");
  EXPECT_EQ(encode_path_segment("..a"), "..a");
  EXPECT_EQ(encode_path_segment(".kibana"), ".kibana");
}

}  // namespace
}  // namespace tandem::http
