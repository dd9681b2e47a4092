// TLS against in-process loopback servers with certificates generated at
// test time (OpenSSL APIs, written to a temp directory). 127.0.0.1 only.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "http/http.h"
#include "http/loopback_server.h"
#include "http/test_certs.h"

namespace tandem::http {
namespace {

using namespace std::chrono_literals;
using testing::KeyPair;
using testing::LoopbackServer;
using testing::self_signed;
using testing::serve_http;
using testing::ServerRequest;
using testing::tcp;
using testing::text_response;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;

class TlsIt : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("tandem-http-tls-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    server_ = new KeyPair(self_signed("127.0.0.1", "IP:127.0.0.1"));
    wrong_name_ = new KeyPair(self_signed("localhost", "DNS:localhost"));
    client_ = new KeyPair(self_signed("tandem-client", "DNS:tandem-client"));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete server_;
    delete wrong_name_;
    delete client_;
  }

  static std::string write(const std::string& name, const std::string& content) {
    auto path = *dir_ / name;
    std::ofstream(path) << content;
    return path.string();
  }

  static std::shared_ptr<ssl::context> server_context(const KeyPair& kp,
                                                      const KeyPair* require_client = nullptr) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain(net::buffer(kp.cert_pem));
    ctx->use_private_key(net::buffer(kp.key_pem), ssl::context::pem);
    if (require_client != nullptr) {
      ctx->add_certificate_authority(net::buffer(require_client->cert_pem));
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
    return ctx;
  }

  // An HTTPS server answering 200 {"tls":true} on keep-alive connections.
  static LoopbackServer::Handler https_handler(std::shared_ptr<ssl::context> ctx) {
    return [ctx](tcp::socket& s, int) {
      ssl::stream<tcp::socket&> stream(s, *ctx);
      boost::system::error_code ec;
      stream.handshake(ssl::stream_base::server, ec);
      if (ec) return;
      serve_http(stream, [](const ServerRequest& req) {
        return text_response(req, 200, "{\"tls\":true}");
      });
    };
  }

  static ClientOptions options(const std::string& url) {
    ClientOptions o;
    o.url = Url::parse(url).value();
    o.connect_timeout = 2s;
    o.request_timeout = 5s;
    o.env_prefix = "TANDEM_BLUE";
    return o;
  }

  static Result<Response> get(const ClientOptions& o) {
    auto client = make_client(o);
    if (!client.is_ok()) return client.status();
    return (*client)->send(Request{});
  }

  static std::filesystem::path* dir_;
  static KeyPair* server_;
  static KeyPair* wrong_name_;
  static KeyPair* client_;
};

std::filesystem::path* TlsIt::dir_ = nullptr;
KeyPair* TlsIt::server_ = nullptr;
KeyPair* TlsIt::wrong_name_ = nullptr;
KeyPair* TlsIt::client_ = nullptr;

TEST_F(TlsIt, SelfSignedWithoutCaFailsVerificationWithAdvice) {
  LoopbackServer server(https_handler(server_context(*server_)));
  auto r = get(options(server.url("https")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTls);
  EXPECT_EQ(r.status().message(),
            "TLS verification failed for " + server.url("https") +
                ": certificate verify failed (self-signed certificate); set "
                "TANDEM_BLUE_CA_FILE to the CA certificate that signed the server's "
                "certificate, or TANDEM_BLUE_INSECURE=1 to skip verification (unsafe) (GET /)");
  EXPECT_EQ(server.accepted(), 1);  // verification failures are not retried
}

TEST_F(TlsIt, CaFileVerifiesAndConnectionIsReused) {
  LoopbackServer server(https_handler(server_context(*server_)));
  ClientOptions o = options(server.url("https"));
  o.tls.ca_file = write("ca.pem", server_->cert_pem);
  auto client = std::move(make_client(o)).value();
  for (int i = 0; i < 5; ++i) {
    auto r = client->send(Request{});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "{\"tls\":true}");
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(TlsIt, InsecureSkipsVerification) {
  LoopbackServer server(https_handler(server_context(*server_)));
  ClientOptions o = options(server.url("https"));
  o.tls.insecure = true;
  auto r = get(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200);
}

TEST_F(TlsIt, CertificateForAnotherNameIsRefused) {
  LoopbackServer server(https_handler(server_context(*wrong_name_)));
  ClientOptions o = options(server.url("https"));
  o.tls.ca_file = write("wrong-name-ca.pem", wrong_name_->cert_pem);
  auto r = get(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTls);
  EXPECT_NE(r.status().message().find("certificate verify failed (IP address mismatch)"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("subjectAltName"), std::string::npos);
}

TEST_F(TlsIt, HttpsToPlainHttpServerSaysSo) {
  LoopbackServer server([](tcp::socket& s, int) {
    serve_http(s, [](const ServerRequest& req) { return text_response(req, 200, "{}"); });
  });
  auto r = get(options(server.url("https")));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTls);
  EXPECT_NE(r.status().message().find("TLS handshake with " + server.url("https") + " failed"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("is the server plain HTTP? try http://"), std::string::npos)
      << r.status().message();
}

TEST_F(TlsIt, HttpToTlsServerSuggestsHttps) {
  LoopbackServer server(https_handler(server_context(*server_)));
  ClientOptions o = options(server.url("http"));
  o.max_retries = 0;
  auto r = get(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("try https://"), std::string::npos) << r.status().to_string();
}

TEST_F(TlsIt, ClientCertificateIsPresented) {
  LoopbackServer server(https_handler(server_context(*server_, client_)));
  ClientOptions o = options(server.url("https"));
  o.tls.ca_file = write("ca2.pem", server_->cert_pem);
  o.tls.cert_file = write("client.pem", client_->cert_pem);
  o.tls.key_file = write("client.key", client_->key_pem);
  auto r = get(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200);

  // Without one the server refuses; the client reports a TLS error.
  o.tls.cert_file.clear();
  o.tls.key_file.clear();
  auto refused = get(o);
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), Code::kTls) << refused.status().to_string();
  EXPECT_NE(refused.status().message().find("set TANDEM_BLUE_CERT_FILE and TANDEM_BLUE_KEY_FILE"),
            std::string::npos)
      << refused.status().message();
}

TEST_F(TlsIt, MismatchedClientKeyIsNamed) {
  ClientOptions o = options("https://127.0.0.1:9200");
  o.tls.cert_file = write("c.pem", client_->cert_pem);
  o.tls.key_file = write("other.key", server_->key_pem);
  auto c = make_client(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kTls);
  EXPECT_NE(c.status().message().find("other.key"), std::string::npos) << c.status().message();
}

TEST_F(TlsIt, CaFileThatIsNotPemIsNamed) {
  ClientOptions o = options("https://127.0.0.1:9200");
  o.tls.ca_file = write("garbage.pem", "not a certificate\n");
  auto c = make_client(o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kTls);
  EXPECT_NE(c.status().message().find("garbage.pem"), std::string::npos);
}

}  // namespace
}  // namespace tandem::http
