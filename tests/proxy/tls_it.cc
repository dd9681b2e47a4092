// TLS on both sides of the proxy, on 127.0.0.1 with certificates generated
// at test time (tests/http/test_certs.h):
//   - the client listener (ServerOptions::tls): https clients get the
//     primary's bytes unchanged; a plain-HTTP client is refused without
//     harm to the server;
//   - https upstreams (http::TlsOptions): verified with the configured CA,
//     and a 502 naming the upstream and the verification failure without;
//   - the client's Authorization header reaches the primary unchanged over
//     every combination and never shows up in a log line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http/loopback_server.h"
#include "http/test_certs.h"
#include "proxy/server_fixture.h"

namespace tandem::proxy::testing {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using http::testing::KeyPair;
using http::testing::LoopbackServer;
using http::testing::self_signed;
using http::testing::serve_http;
using http::testing::ServerRequest;
using http::testing::ServerResponse;

constexpr std::string_view kSecret = "Basic dGFuZGVtOnMzY3IzdC1wYXNzd29yZA==";

// A blocking-looking TLS client built on async operations with a deadline
// (Asio's synchronous reads ignore SO_RCVTIMEO), so no test can hang.
class TlsClient {
 public:
  TlsClient(uint16_t port, const std::string& ca_pem) : ctx_(ssl::context::tls_client) {
    ctx_.add_certificate_authority(net::buffer(ca_pem));
    ctx_.set_verify_mode(ssl::verify_peer);
    stream_.emplace(ioc_, ctx_);
    beast::error_code ec;
    beast::get_lowest_layer(*stream_).socket().connect({net::ip::make_address("127.0.0.1"), port},
                                                       ec);
    connected_ = !ec;
  }

  beast::error_code handshake() {
    return run([&](auto done) { stream_->async_handshake(ssl::stream_base::client, done); });
  }

  bool send(std::string_view bytes) {
    return !run([&](auto done) {
      net::async_write(*stream_, net::buffer(bytes.data(), bytes.size()),
                       [done](beast::error_code ec, std::size_t) { done(ec); });
    });
  }

  // The raw bytes of one response (framed by Beast); empty on error.
  std::string read_response() {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(1u << 30);
    std::string raw;
    size_t fed = 0;
    char buf[16384];
    while (!p.is_done()) {
      size_t n = 0;
      auto ec = run([&](auto done) {
        stream_->async_read_some(net::buffer(buf), [&n, done](beast::error_code e, std::size_t k) {
          n = k;
          done(e);
        });
      });
      if (ec) return {};
      raw.append(buf, n);
      while (fed < raw.size() && !p.is_done()) {
        const size_t used = p.put(net::buffer(raw.data() + fed, raw.size() - fed), ec);
        if (ec == bhttp::error::need_more) break;
        if (ec) return {};
        fed += used;
        if (used == 0) break;
      }
    }
    return raw.substr(0, fed);
  }

  bool connected() const { return connected_; }

 private:
  // Runs one async operation to completion, at most 5 s.
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result = net::error::timed_out;
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(5));
    ioc_.restart();
    start([&result](beast::error_code ec) { result = ec; });
    ioc_.run();
    return result;
  }

  net::io_context ioc_;
  ssl::context ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  bool connected_ = false;
};

// An https upstream: a loopback server speaking TLS with `kp`, answering
// every request with `body` and remembering what it saw.
class HttpsUpstream {
 public:
  HttpsUpstream(const KeyPair& kp, std::string body)
      : ctx_(std::make_shared<ssl::context>(ssl::context::tls_server)), body_(std::move(body)) {
    ctx_->use_certificate_chain(net::buffer(kp.cert_pem));
    ctx_->use_private_key(net::buffer(kp.key_pem), ssl::context::pem);
    server_ = std::make_unique<LoopbackServer>([this](http::testing::tcp::socket& s, int) {
      ssl::stream<http::testing::tcp::socket&> stream(s, *ctx_);
      beast::error_code ec;
      stream.handshake(ssl::stream_base::server, ec);
      if (ec) return;
      serve_http(stream, [this](const ServerRequest& req) {
        {
          std::lock_guard<std::mutex> l(mu_);
          seen_.push_back(req);
        }
        ServerResponse res{bhttp::status::ok, 11};
        res.set(bhttp::field::content_type, "application/json; charset=UTF-8");
        res.set("X-elastic-product", "Elasticsearch");
        res.body() = body_;
        res.keep_alive(req.keep_alive());
        return res;
      });
    });
  }
  ~HttpsUpstream() { server_.reset(); }  // joins the handlers before ctx_ goes

  std::string url() const { return server_->url("https"); }
  int accepted() const { return server_->accepted(); }
  std::vector<ServerRequest> seen() const {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }

 private:
  std::shared_ptr<ssl::context> ctx_;
  std::string body_;
  mutable std::mutex mu_;
  std::vector<ServerRequest> seen_;
  std::unique_ptr<LoopbackServer> server_;
};

class ProxyTlsIT : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                     ("tandem-proxy-tls-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    listener_ = new KeyPair(self_signed("127.0.0.1", "IP:127.0.0.1"));
    upstream_ = new KeyPair(self_signed("127.0.0.1", "IP:127.0.0.1"));
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete listener_;
    delete upstream_;
  }

  static std::string write(const std::string& name, const std::string& content) {
    auto path = *dir_ / name;
    std::ofstream(path) << content;
    return path.string();
  }

  static ServerOptions tls_listener() {
    ServerOptions o;
    o.tls.cert_file = write("listener.pem", listener_->cert_pem);
    o.tls.key_file = write("listener.key", listener_->key_pem);
    return o;
  }

  static void expect_no_secret_in(const Harness& h) {
    for (const auto& line : h.logs()) {
      EXPECT_EQ(line.find(kSecret), std::string::npos) << line;
      EXPECT_EQ(line.find("dGFuZGVt"), std::string::npos) << line;
    }
  }

  static std::filesystem::path* dir_;
  static KeyPair* listener_;
  static KeyPair* upstream_;
};

std::filesystem::path* ProxyTlsIT::dir_ = nullptr;
KeyPair* ProxyTlsIT::listener_ = nullptr;
KeyPair* ProxyTlsIT::upstream_ = nullptr;

std::string upstream_answer() {
  const std::string gzip("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\x56\x00\x00\x5b\x00\xff\x00",
                         18);
  return "HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n"
         "content-type: application/json; charset=UTF-8\r\ncontent-encoding: gzip\r\n"
         "content-length: " +
         std::to_string(gzip.size()) + "\r\n\r\n" + gzip;
}

std::string request(std::string_view method, std::string_view target, std::string_view body = "") {
  std::string r = std::string(method) + " " + std::string(target) +
                  " HTTP/1.1\r\nHost: a\r\nAuthorization: " + std::string(kSecret) + "\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    r +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return r + "\r\n" + std::string(body);
}

// ---- (a) TLS on the client listener ------------------------------------------

TEST_F(ProxyTlsIT, HttpsClientGetsTheUpstreamBytesUnchanged) {
  TinyUpstream up([](const SeenRequest&) { return upstream_answer(); });
  Harness h;
  ASSERT_TRUE(h.start(up.url(), tls_listener()).is_ok());
  TlsClient c(h.port(), listener_->cert_pem);
  ASSERT_TRUE(c.connected());
  ASSERT_FALSE(c.handshake());
  // A read, then a write (through capture), on one keep-alive connection.
  ASSERT_TRUE(c.send(request("GET", "/idx/_search?q=x")));
  EXPECT_EQ(c.read_response(), upstream_answer());
  ASSERT_TRUE(c.send(request("PUT", "/idx/_doc/1", R"({"a":1})")));
  EXPECT_EQ(c.read_response(), upstream_answer());
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].target, "/idx/_search?q=x");
  EXPECT_EQ(seen[0].header("Authorization"), kSecret);
  EXPECT_EQ(seen[1].header("Authorization"), kSecret);
  EXPECT_EQ(seen[1].body, R"({"a":1})");
  EXPECT_EQ(h.capture.begins.load(), 1);
  EXPECT_EQ(up.connections(), 1);
  expect_no_secret_in(h);
}

TEST_F(ProxyTlsIT, PlainHttpClientToTlsListenerIsRefusedAndServerCarriesOn) {
  TinyUpstream up([](const SeenRequest&) { return upstream_answer(); });
  Harness h;
  ASSERT_TRUE(h.start(up.url(), tls_listener()).is_ok());
  for (int i = 0; i < 3; ++i) {
    RawClient plain(h.port(), 3000ms);
    ASSERT_TRUE(plain.connected());
    plain.send(request("GET", "/"));
    bool closed = false;
    const std::string raw = plain.read_all(&closed);
    EXPECT_TRUE(closed) << "the proxy must hang up on a client that does not speak TLS";
    EXPECT_NE(raw.rfind("HTTP/", 0), 0u) << "no HTTP answer in the clear: " << raw;
  }
  EXPECT_EQ(up.count(), 0u) << "nothing may reach the primary";
  // Still serving TLS clients.
  TlsClient c(h.port(), listener_->cert_pem);
  ASSERT_FALSE(c.handshake());
  ASSERT_TRUE(c.send(request("GET", "/")));
  EXPECT_EQ(c.read_response(), upstream_answer());
  // The refused connections are gone; only this client's is open.
  for (int i = 0; i < 200 && h.server->stats().open_connections != 1; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(h.server->stats().open_connections, 1);
  expect_no_secret_in(h);
}

TEST_F(ProxyTlsIT, ClientThatDoesNotTrustTheListenerFailsTheHandshake) {
  TinyUpstream up([](const SeenRequest&) { return upstream_answer(); });
  Harness h;
  ASSERT_TRUE(h.start(up.url(), tls_listener()).is_ok());
  TlsClient c(h.port(), upstream_->cert_pem);  // some other CA
  EXPECT_TRUE(c.handshake());
  EXPECT_EQ(up.count(), 0u);
}

TEST_F(ProxyTlsIT, UnreadableListenerCertificateIsNamedAtStart) {
  Harness h;
  ServerOptions o = tls_listener();
  o.tls.cert_file = (*dir_ / "missing.pem").string();
  auto st = h.start("http://127.0.0.1:9", o);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), Code::kTls);
  EXPECT_NE(st.message().find("missing.pem"), std::string::npos) << st.message();
}

// ---- (b) https upstream ---------------------------------------------------------

TEST_F(ProxyTlsIT, HttpsUpstreamWithTheCaWorks) {
  HttpsUpstream up(*upstream_, R"({"tls":true})");
  Harness h;
  h.upstream_tls.ca_file = write("upstream-ca.pem", upstream_->cert_pem);
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(request("GET", "/idx/_doc/" + std::to_string(i))));
    const std::string raw = c.read_response();
    EXPECT_EQ(status_of(raw), 200) << raw;
    EXPECT_EQ(body_of(raw), R"({"tls":true})");
  }
  ASSERT_TRUE(c.send(request("POST", "/idx/_doc", R"({"b":2})")));
  EXPECT_EQ(status_of(c.read_response()), 200);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& r : seen) EXPECT_EQ(std::string(r[bhttp::field::authorization]), kSecret);
  EXPECT_EQ(seen[3].body(), R"({"b":2})");
  EXPECT_EQ(up.accepted(), 1) << "the upstream TLS connection is pooled";
  expect_no_secret_in(h);
}

TEST_F(ProxyTlsIT, HttpsUpstreamWithoutTheCaIs502NamingUpstreamAndVerification) {
  HttpsUpstream up(*upstream_, R"({"tls":true})");
  Harness h;
  // No CA file: the system trust store, which does not know this CA.
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send(request("GET", "/_cluster/health")));
  const std::string raw = c.read_response();
  ASSERT_EQ(status_of(raw), 502) << raw;
  auto j = nlohmann::json::parse(body_of(raw), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << raw;
  EXPECT_EQ(j["status"], 502);
  EXPECT_EQ(j["error"]["type"], "tandem_upstream_exception");
  EXPECT_EQ(j["error"]["root_cause"][0]["type"], "tandem_upstream_exception");
  const std::string reason = j["error"]["reason"];
  EXPECT_NE(reason.find("blue at " + up.url()), std::string::npos) << reason;
  EXPECT_NE(reason.find("certificate verify failed"), std::string::npos) << reason;
  EXPECT_NE(reason.find("self-signed certificate"), std::string::npos) << reason;
  EXPECT_TRUE(up.seen().empty()) << "no request may go out over an unverified connection";
  EXPECT_EQ(raw.find("dGFuZGVt"), std::string::npos);

  // A write is refused the same way, and capture learns nothing was sent.
  ASSERT_TRUE(c.send(request("PUT", "/i/_doc/1", "{}")));
  EXPECT_EQ(status_of(c.read_response()), 502);
  EXPECT_EQ(h.capture.completes.load(), 1);
  EXPECT_EQ(h.capture.last_complete_status.load(), 0);
  EXPECT_EQ(h.capture.abandons.load(), 0);

  // The operator's log says the same, without the credentials.
  bool logged = false;
  for (const auto& line : h.logs()) {
    if (line.find("certificate verify failed") != std::string::npos) logged = true;
  }
  EXPECT_TRUE(logged);
  expect_no_secret_in(h);
}

// ---- both sides TLS ---------------------------------------------------------------

TEST_F(ProxyTlsIT, TlsClientToHttpsUpstreamPassesAuthorizationUnchanged) {
  HttpsUpstream up(*upstream_, R"({"both":true})");
  Harness h;
  h.upstream_tls.ca_file = write("upstream-ca2.pem", upstream_->cert_pem);
  ASSERT_TRUE(h.start(up.url(), tls_listener()).is_ok());
  TlsClient c(h.port(), listener_->cert_pem);
  ASSERT_FALSE(c.handshake());
  ASSERT_TRUE(c.send(request("GET", "/")));
  const std::string raw = c.read_response();
  EXPECT_EQ(status_of(raw), 200) << raw;
  EXPECT_EQ(body_of(raw), R"({"both":true})");
  ASSERT_EQ(up.seen().size(), 1u);
  EXPECT_EQ(std::string(up.seen()[0][bhttp::field::authorization]), kSecret);
  expect_no_secret_in(h);
}

}  // namespace
}  // namespace tandem::proxy::testing
