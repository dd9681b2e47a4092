// Client against in-process loopback servers on 127.0.0.1: pooling, safe
// retries, deadlines and error messages. No external services.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/write.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/http.h"
#include "http/loopback_server.h"

namespace tandem::http {
namespace {

using namespace std::chrono_literals;
using testing::LoopbackServer;
using testing::serve_http;
using testing::ServerRequest;
using testing::ServerResponse;
using testing::tcp;
using testing::text_response;
namespace net = boost::asio;

std::unique_ptr<Client> client_for(const std::string& url, int max_retries = 2,
                                   size_t max_idle = 32) {
  ClientOptions o;
  o.url = Url::parse(url).value();
  o.connect_timeout = 2s;
  o.request_timeout = 5s;
  o.max_retries = max_retries;
  o.max_idle_connections = max_idle;
  auto c = make_client(std::move(o));
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return std::move(c).value();
}

// Blocks until the client hangs up or the server is destroyed.
void hold_open(tcp::socket& s) {
  char buf[1024];
  boost::system::error_code ec;
  while (!ec) s.read_some(net::buffer(buf), ec);
}

TEST(ClientIt, KeepAliveReusesOneConnectionAndSendsStandardHeaders) {
  std::mutex mu;
  std::vector<ServerRequest> seen;
  LoopbackServer server([&](tcp::socket& s, int) {
    serve_http(s, [&](const ServerRequest& req) {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(req);
      return text_response(req, 200, "{\"n\":" + std::to_string(seen.size()) + "}");
    });
  });
  ClientOptions o;
  o.url = Url::parse(server.url() + "/base").value();
  o.credentials.kind = Credentials::Kind::kApiKey;
  o.credentials.secret = Secret("k3y");
  auto client = std::move(make_client(o)).value();

  for (int i = 0; i < 10; ++i) {
    Request req;
    req.method = "POST";
    req.target = "/idx/_search";
    req.body = "{}";
    auto r = client->send(req);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "{\"n\":" + std::to_string(i + 1) + "}");
    EXPECT_EQ(r->header("content-type"), "application/json");
  }
  EXPECT_EQ(server.accepted(), 1);

  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen.size(), 10u);
  const ServerRequest& req = seen.back();
  EXPECT_EQ(req.target(), "/base/idx/_search");
  EXPECT_EQ(req[boost::beast::http::field::host], "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(req[boost::beast::http::field::user_agent].substr(0, 7), "tandem/");
  EXPECT_EQ(req[boost::beast::http::field::authorization], "ApiKey k3y");
  EXPECT_EQ(req[boost::beast::http::field::content_type], "application/json");
  EXPECT_EQ(req.body(), "{}");
}

TEST(ClientIt, CallerContentTypeAndHeadersAreSent) {
  std::mutex mu;
  ServerRequest last;
  LoopbackServer server([&](tcp::socket& s, int) {
    serve_http(s, [&](const ServerRequest& req) {
      std::lock_guard<std::mutex> lock(mu);
      last = req;
      return text_response(req, 200, "{}");
    });
  });
  auto client = client_for(server.url());
  Request req;
  req.method = "POST";
  req.target = "/_bulk";
  req.body = "{\"index\":{}}\n{}\n";
  req.content_type = "application/x-ndjson";
  req.headers.push_back({"X-Opaque-Id", "tandem-1"});
  ASSERT_TRUE(client->send(req).is_ok());
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(last[boost::beast::http::field::content_type], "application/x-ndjson");
  EXPECT_EQ(last["X-Opaque-Id"], "tandem-1");
  EXPECT_EQ(last.body(), req.body);
}

TEST(ClientIt, HttpErrorStatusIsAResponseNotAnError) {
  LoopbackServer server([](tcp::socket& s, int) {
    serve_http(s, [](const ServerRequest& req) { return text_response(req, 409, "{\"c\":1}"); });
  });
  auto client = client_for(server.url());
  auto r = client->send(Request{});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 409);
}

TEST(ClientIt, ConcurrentSendsFromManyThreads) {
  std::atomic<int> served{0};
  LoopbackServer server([&](tcp::socket& s, int) {
    serve_http(s, [&](const ServerRequest& req) {
      ++served;
      return text_response(req, 200, std::string(req.target()));
    });
  });
  // max_idle >= threads: no eviction, so a new connection is only opened
  // while every existing one is busy -- at most one per thread.
  auto client = client_for(server.url(), 2, 6);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Request req;
        req.target = "/t" + std::to_string(t) + "/" + std::to_string(i);
        auto r = client->send(req);
        if (r.is_ok() && r->body == req.target) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 120);
  EXPECT_EQ(served.load(), 120);
  EXPECT_LE(server.accepted(), 6);
}

TEST(ClientIt, ZeroIdleConnectionsMeansNoReuse) {
  LoopbackServer server([](tcp::socket& s, int) {
    serve_http(s, [](const ServerRequest& req) { return text_response(req, 200, "{}"); });
  });
  auto client = client_for(server.url(), 2, 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->send(Request{}).is_ok());
  EXPECT_EQ(server.accepted(), 3);
}

TEST(ClientIt, ConnectionCloseResponseIsNotReused) {
  LoopbackServer server([](tcp::socket& s, int) {
    serve_http(s, [](const ServerRequest& req) {
      auto res = text_response(req, 200, "{}");
      res.keep_alive(false);
      return res;
    });
  });
  auto client = client_for(server.url());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->send(Request{}).is_ok());
  EXPECT_EQ(server.accepted(), 3);
}

TEST(ClientIt, ServerClosingIdleConnectionIsRetriedOnAFreshOne) {
  // Answers one request per connection while promising keep-alive, then
  // closes: the classic idle-timeout race.
  std::atomic<int> closed{0};
  LoopbackServer server([&](tcp::socket& s, int) {
    serve_http(
        s, [](const ServerRequest& req) { return text_response(req, 200, "{}"); }, 1);
    s.shutdown(tcp::socket::shutdown_both);
    ++closed;
  });
  auto client = client_for(server.url(), /*max_retries=*/0);
  for (int i = 0; i < 5; ++i) {
    Request req;
    req.method = "POST";
    req.idempotent = false;  // still safe: nothing is sent on a dead connection
    req.body = "{}";
    auto r = client->send(req);
    ASSERT_TRUE(r.is_ok()) << i << ": " << r.status().to_string();
    // Wait (bounded) until the server has hung up, so the next send finds a
    // closed pooled connection rather than racing the close.
    for (int spin = 0; spin < 200 && closed.load() <= i; ++spin) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(closed.load(), i + 1);
    std::this_thread::sleep_for(5ms);  // the FIN crosses loopback
  }
  EXPECT_EQ(server.accepted(), 5);
}

// Connection 0 answers one request, then reads the next and hangs up without
// answering (the close raced our request). Later connections behave.
void answer_once_then_hang_up(tcp::socket& s, int index, std::atomic<int>* requests) {
  auto respond = [requests](const ServerRequest& req) {
    ++*requests;
    return text_response(req, 200, "{}");
  };
  if (index != 0) return serve_http(s, respond);
  serve_http(s, respond, 1);
  boost::beast::flat_buffer buf;
  ServerRequest req;
  boost::beast::http::read(s, buf, req);
  ++*requests;
}

TEST(ClientIt, HangUpAfterRequestOnReusedConnectionRetriesIdempotentOnce) {
  std::atomic<int> requests{0};
  LoopbackServer server(
      [&](tcp::socket& s, int index) { answer_once_then_hang_up(s, index, &requests); });
  auto client = client_for(server.url(), /*max_retries=*/0);
  ASSERT_TRUE(client->send(Request{}).is_ok());
  auto r = client->send(Request{});  // GET: idempotent
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(requests.load(), 3);
}

TEST(ClientIt, HangUpAfterNonIdempotentRequestIsNotRetried) {
  std::atomic<int> requests{0};
  LoopbackServer server(
      [&](tcp::socket& s, int index) { answer_once_then_hang_up(s, index, &requests); });
  auto client = client_for(server.url());
  ASSERT_TRUE(client->send(Request{}).is_ok());
  Request post;
  post.method = "POST";
  post.target = "/idx/_doc";
  post.body = "{}";
  post.idempotent = false;
  auto r = client->send(post);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("POST http://127.0.0.1:" + std::to_string(server.port()) +
                                      "/idx/_doc"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("not retried"), std::string::npos);
  EXPECT_EQ(requests.load(), 2);
  EXPECT_EQ(server.accepted(), 1);
}

// Sends half a response and resets: the request reached the server.
void half_response(tcp::socket& s, std::atomic<int>* requests) {
  boost::beast::flat_buffer buf;
  ServerRequest req;
  boost::beast::http::read(s, buf, req);
  ++*requests;
  net::write(s, net::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")));
}

TEST(ClientIt, MidResponseFailureRetriesOnlyIdempotentRequests) {
  std::atomic<int> requests{0};
  LoopbackServer server([&](tcp::socket& s, int) { half_response(s, &requests); });
  auto client = client_for(server.url(), /*max_retries=*/2);

  auto get = client->send(Request{});
  ASSERT_FALSE(get.is_ok());
  EXPECT_EQ(get.status().code(), Code::kUnavailable);
  EXPECT_NE(get.status().message().find("tried 3 times"), std::string::npos)
      << get.status().message();
  EXPECT_EQ(requests.load(), 3);

  Request post;
  post.method = "POST";
  post.body = "{}";
  post.idempotent = false;
  auto r = client->send(post);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(requests.load(), 4);
  EXPECT_NE(r.status().message().find("not retried"), std::string::npos);
}

TEST(ClientIt, ConnectRefusedNamesUrlAndRequest) {
  uint16_t port;
  {
    // A port that was just free: bind, note it, close.
    net::io_context ioc;
    tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }
  auto client = client_for("http://127.0.0.1:" + std::to_string(port), /*max_retries=*/0);
  auto r = client->send(Request{});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().message(), "cannot connect to http://127.0.0.1:" + std::to_string(port) +
                                      ": Connection refused (GET /)");
}

TEST(ClientIt, ConnectRefusedIsRetriedWithBackoff) {
  auto client = client_for("http://127.0.0.1:1", /*max_retries=*/2);
  auto start = std::chrono::steady_clock::now();
  auto r = client->send(Request{});
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            "cannot connect to http://127.0.0.1:1: Connection refused (GET /); tried 3 times");
  EXPECT_GE(elapsed, 150ms);  // 50ms + 100ms backoff
  EXPECT_LT(elapsed, 2s);
}

TEST(ClientIt, RequestTimeoutIsBoundedAndNamed) {
  LoopbackServer server([](tcp::socket& s, int) { hold_open(s); });
  auto client = client_for(server.url());
  Request req;
  req.target = "/_cluster/health";
  req.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = client->send(req);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_EQ(r.status().message(), "GET " + server.url() +
                                      "/_cluster/health: no response within 300ms "
                                      "(request timeout)");
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 2s);  // not retried
  EXPECT_EQ(server.accepted(), 1);
}

TEST(ClientIt, ClientOptionTimeoutApplies) {
  LoopbackServer server([](tcp::socket& s, int) { hold_open(s); });
  ClientOptions o;
  o.url = Url::parse(server.url()).value();
  o.request_timeout = 200ms;
  auto client = std::move(make_client(o)).value();
  auto r = client->send(Request{});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_NE(r.status().message().find("200ms"), std::string::npos);
}

TEST(ClientIt, GarbageResponseIsAProtocolError) {
  LoopbackServer server([](tcp::socket& s, int) {
    boost::beast::flat_buffer buf;
    ServerRequest req;
    boost::beast::http::read(s, buf, req);
    net::write(s, net::buffer(std::string("SSH-2.0-OpenSSH_9.2\r\n")));
    hold_open(s);
  });
  auto client = client_for(server.url());
  auto r = client->send(Request{});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
  EXPECT_EQ(r.status().message(), "GET " + server.url() +
                                      "/: not an HTTP response (starts with "
                                      "\"SSH-2.0-OpenSSH_9.2\\r\\n\")");
  EXPECT_EQ(server.accepted(), 1);  // not retried
}

TEST(ClientIt, TlsRecordOnHttpSaysTryHttps) {
  LoopbackServer server([](tcp::socket& s, int) {
    char buf[512];
    s.read_some(net::buffer(buf));
    // A TLS alert record (protocol_version), as a TLS server might send.
    net::write(s, net::buffer(std::string("\x15\x03\x03\x00\x02\x02\x46", 7)));
  });
  auto client = client_for(server.url());
  auto r = client->send(Request{});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
  EXPECT_NE(r.status().message().find("not an HTTP response"), std::string::npos);
  EXPECT_NE(r.status().message().find("is the server speaking TLS? try https://"),
            std::string::npos)
      << r.status().message();
}

TEST(ClientIt, MalformedHttpIsAProtocolError) {
  LoopbackServer server([](tcp::socket& s, int) {
    char buf[512];
    s.read_some(net::buffer(buf));
    net::write(s, net::buffer(std::string("HTTP/1.1 abc\r\n\r\n")));
    hold_open(s);
  });
  auto client = client_for(server.url());
  auto r = client->send(Request{});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
  EXPECT_NE(r.status().message().find("malformed HTTP response"), std::string::npos);
}

TEST(ClientIt, HeadAndChunkedResponses) {
  LoopbackServer server([](tcp::socket& s, int) {
    serve_http(s, [](const ServerRequest& req) {
      auto res = text_response(req, 200, "0123456789");
      if (req.target() == "/chunked") res.chunked(true);
      return res;
    });
  });
  auto client = client_for(server.url());
  Request head;
  head.method = "HEAD";
  auto h = client->send(head);
  ASSERT_TRUE(h.is_ok()) << h.status().to_string();
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->body, "");
  EXPECT_EQ(h->header("Content-Length"), "10");

  Request chunked;
  chunked.target = "/chunked";
  auto c = client->send(chunked);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(c->body, "0123456789");
  EXPECT_EQ(server.accepted(), 1);  // HEAD left the connection reusable
}

TEST(ClientIt, ResponseLargerThanLimitIsResourceExhausted) {
  LoopbackServer server([](tcp::socket& s, int) {
    serve_http(s, [](const ServerRequest& req) {
      return text_response(req, 200, std::string(4096, 'x'));
    });
  });
  ClientOptions o;
  o.url = Url::parse(server.url()).value();
  o.max_response_bytes = 1024;
  auto client = std::move(make_client(o)).value();
  auto r = client->send(Request{});
  ASSERT_FALSE(r.is_ok()) << r->status << " " << r->body.size();
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
}

}  // namespace
}  // namespace tandem::http
