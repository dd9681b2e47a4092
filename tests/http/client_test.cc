// Client behaviour that needs no network: construction errors, request
// validation, Response helpers.
#include <gtest/gtest.h>

#include <string>

#include "http/http.h"

namespace tandem::http {
namespace {

ClientOptions options_for(const std::string& url) {
  ClientOptions o;
  o.url = Url::parse(url).value();
  return o;
}

TEST(MakeClient, NoUrlIsAnError) {
  auto c = make_client(ClientOptions{});
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
}

TEST(MakeClient, MissingCaFileIsNamed) {
  ClientOptions o = options_for("https://127.0.0.1:9200");
  o.tls.ca_file = "/nonexistent/tandem-ca.pem";
  o.env_prefix = "TANDEM_BLUE";
  auto c = make_client(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kIo);
  EXPECT_NE(c.status().message().find("/nonexistent/tandem-ca.pem"), std::string::npos);
  EXPECT_NE(c.status().message().find("TANDEM_BLUE_CA_FILE"), std::string::npos);
}

TEST(MakeClient, KeyWithoutCertIsAnError) {
  ClientOptions o = options_for("https://127.0.0.1:9200");
  o.tls.key_file = "/x/key.pem";
  auto c = make_client(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
}

TEST(MakeClient, PlainHttpNeedsNoTls) {
  ClientOptions o = options_for("http://127.0.0.1:9200");
  o.tls.ca_file = "/nonexistent";  // ignored for http://
  EXPECT_TRUE(make_client(o).is_ok());
}

TEST(Send, InvalidRequestsFailBeforeConnecting) {
  // Port 1 is never contacted: validation happens first.
  auto c = make_client(options_for("http://127.0.0.1:1"));
  ASSERT_TRUE(c.is_ok());
  Request bad_method;
  bad_method.method = "BREW";
  EXPECT_EQ((*c)->send(bad_method).status().code(), Code::kInvalidArgument);

  Request bad_target;
  bad_target.target = "/idx/_doc/a b";
  auto r = (*c)->send(bad_target);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("encode_path_segment"), std::string::npos);

  Request injected;
  injected.headers.push_back({"X-Opaque-Id", "a\r\nX-Evil: 1"});
  EXPECT_EQ((*c)->send(injected).status().code(), Code::kInvalidArgument);
}

TEST(Response, HeaderLookupIsCaseInsensitive) {
  Response r;
  r.headers = {{"Content-Type", "application/json"},
               {"X-Elastic-Product", "Elasticsearch"},
               {"x-elastic-product", "second"}};
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("X-ELASTIC-PRODUCT"), "Elasticsearch");
  EXPECT_EQ(r.header("missing"), std::nullopt);
}

}  // namespace
}  // namespace tandem::http
