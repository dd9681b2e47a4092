#include "http/connection.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <string>
#include <type_traits>
#include <utility>

#include "http/tls.h"

#ifndef TANDEM_VERSION
// The tandem executable defines TANDEM_VERSION; the library may be built
// without it (tests), so fall back to the project version.
#define TANDEM_VERSION "0.1.0"
#endif

namespace tandem::http::detail {
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kFirstReadBytes = 16 * 1024;
constexpr std::uint32_t kMaxHeaderBytes = 64 * 1024;
constexpr char kUserAgent[] = "tandem/" TANDEM_VERSION;

// The request body is sent from the caller's string without a copy, so a
// 100 MB bulk body is not duplicated per attempt.
using OutRequest = bhttp::request<bhttp::span_body<const char>>;

std::string ms(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + "ms";
}

bool is_default_port(const Url& url) {
  return (url.scheme == "http" && url.port == 80) || (url.scheme == "https" && url.port == 443);
}

std::string host_header(const Url& url) {
  std::string h = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (!is_default_port(url)) h += ":" + std::to_string(url.port);
  return h;
}

std::string full_target(const ClientOptions& options, const Request& req) {
  std::string t = options.url.base_path;
  if (req.target.empty() || req.target.front() != '/') t += '/';
  return t + req.target;
}

OutRequest build_request(const ClientOptions& options, const Request& req) {
  OutRequest out;
  out.method_string(req.method);
  out.target(full_target(options, req));
  out.version(11);
  out.set(bhttp::field::host, host_header(options.url));
  out.set(bhttp::field::user_agent, kUserAgent);
  std::string auth = options.credentials.authorization_header();
  if (!auth.empty()) out.set(bhttp::field::authorization, auth);
  if (!req.body.empty()) {
    out.set(bhttp::field::content_type,
            req.content_type.empty() ? std::string("application/json") : req.content_type);
  }
  // Caller headers win over the defaults above (set, not insert).
  for (const Header& h : req.headers) out.set(h.name, h.value);
  out.body() = boost::beast::span<const char>(req.body.data(), req.body.size());
  out.keep_alive(true);
  out.prepare_payload();
  return out;
}

// Up to 48 bytes of what the peer sent, printable, for "not HTTP" errors.
std::string preview(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < 48; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  if (bytes.size() > 48) out += "...";
  return out;
}

bool is_disconnect(const error_code& ec) {
  return ec == net::error::eof || ec == ssl::error::stream_truncated ||
         ec == net::error::connection_reset || ec == net::error::broken_pipe ||
         ec == net::error::connection_aborted || ec == bhttp::error::end_of_stream ||
         ec == bhttp::error::partial_message;
}

// The result of one asynchronous operation run to completion.
struct OpResult {
  error_code ec = net::error::would_block;
  std::size_t bytes = 0;
};

inline void take_bytes(std::size_t& out, std::size_t n) {
  out = n;
}
template <typename T>
void take_bytes(std::size_t&, const T&) {}

template <typename Stream>
class StreamConnection final : public Connection {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  explicit StreamConnection(ssl::context* tls) : stream_(make_stream(ioc_, tls)) {}

  ~StreamConnection() override {
    // Close the socket without a TLS close_notify: it would need another
    // round trip (and a deadline) for nothing the server needs.
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  Status connect(const ClientOptions& options, const Request& req) {
    const Url& url = options.url;
    const std::string suffix = " (" + req.method + " " + full_target(options, req) + ")";
    tcp::resolver resolver(ioc_);
    error_code ec;
    // Resolution is blocking (getaddrinfo has no cancellation); tandem talks
    // to a few long-lived hosts and pools connections, so it is rare.
    auto endpoints =
        resolver.resolve(url.host, std::to_string(url.port), tcp::resolver::numeric_service, ec);
    if (ec) {
      return error(Code::kUnavailable, "cannot resolve host '" + url.host + "' for " +
                                           url.to_string() + ": " + ec.message() + suffix);
    }
    auto& lowest = beast::get_lowest_layer(stream_);
    lowest.expires_after(options.connect_timeout);
    OpResult r = run([&](auto handler) { lowest.async_connect(endpoints, std::move(handler)); });
    if (r.ec == beast::error::timeout) {
      return error(Code::kTimeout, "cannot connect to " + url.to_string() + " within " +
                                       ms(options.connect_timeout) + suffix);
    }
    if (r.ec) {
      return error(Code::kUnavailable,
                   "cannot connect to " + url.to_string() + ": " + r.ec.message() + suffix);
    }
    lowest.socket().set_option(tcp::no_delay(true), ec);

    if constexpr (kTls) {
      TANDEM_RETURN_IF_ERROR(
          prepare_client_tls_session(stream_.native_handle(), url.host, options.tls.insecure));
      r = run([&](auto handler) {
        stream_.async_handshake(ssl::stream_base::client, std::move(handler));
      });
      if (r.ec == beast::error::timeout) {
        return error(Code::kTimeout, "TLS handshake with " + url.to_string() +
                                         " did not complete within " + ms(options.connect_timeout) +
                                         ": is the server plain HTTP? try http://" + suffix);
      }
      if (r.ec) {
        return describe_handshake_error(r.ec, stream_.native_handle(), options,
                                        req.method + " " + full_target(options, req));
      }
    }
    lowest.expires_never();
    return Status::ok();
  }

  Result<Response> exchange(const ClientOptions& options, const Request& req,
                            std::chrono::milliseconds timeout, Phase* phase) override {
    reusable_ = false;
    const std::string what = describe_request(options, req);
    auto& lowest = beast::get_lowest_layer(stream_);
    // One deadline for the whole exchange: it keeps running across the
    // write and all reads until expires_never() below.
    lowest.expires_after(timeout);

    *phase = Phase::kWrite;
    OutRequest out = build_request(options, req);
    OpResult r = run([&](auto handler) { bhttp::async_write(stream_, out, std::move(handler)); });
    if (r.ec) return io_error(options, r.ec, what, timeout, "while sending the request");

    // Read the first bytes alone: "nothing came back" and "something that is
    // not HTTP came back" both need their own answer.
    *phase = Phase::kAwaitResponse;
    buffer_.clear();
    r = run([&](auto handler) {
      stream_.async_read_some(buffer_.prepare(kFirstReadBytes), std::move(handler));
    });
    buffer_.commit(r.bytes);
    if (buffer_.size() == 0) {
      if (r.ec == beast::error::timeout) {
        return error(Code::kTimeout,
                     what + ": no response within " + ms(timeout) + " (request timeout)");
      }
      if (!r.ec || is_disconnect(r.ec)) {
        std::string msg = what + ": server closed the connection without responding";
        if (!kTls) msg += " (if the server speaks TLS, try https://)";
        return error(Code::kUnavailable, msg);
      }
      return io_error(options, r.ec, what, timeout, "while waiting for the response");
    }

    *phase = Phase::kReadResponse;
    std::string_view head(static_cast<const char*>(buffer_.data().data()), buffer_.size());
    std::string_view expected = "HTTP/";
    if (head.substr(0, expected.size()) !=
        expected.substr(0, std::min(head.size(), expected.size()))) {
      const auto first = static_cast<unsigned char>(head.front());
      // 0x15 / 0x16: a TLS alert or handshake record -- a TLS port.
      if (!kTls && (first == 0x15 || first == 0x16)) {
        return error(Code::kProtocol, what + ": not an HTTP response (got a TLS record): " +
                                          "is the server speaking TLS? try https://");
      }
      return error(Code::kProtocol,
                   what + ": not an HTTP response (starts with \"" + preview(head) + "\")");
    }

    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(options.max_response_bytes);
    // A HEAD response announces a Content-Length but carries no body.
    if (req.method == "HEAD") parser.skip(true);
    const auto too_large = [&] {
      return error(Code::kResourceExhausted, what + ": response body exceeds " +
                                                 std::to_string(options.max_response_bytes) +
                                                 " bytes");
    };
    // Header first: Beast 1.74 enforces body_limit for chunked and
    // read-to-EOF bodies but not against Content-Length, and string_body
    // would reserve whatever length the server announces.
    r = run([&](auto handler) {
      bhttp::async_read_header(stream_, buffer_, parser, std::move(handler));
    });
    if (!r.ec && !parser.is_done() && parser.content_length() &&
        *parser.content_length() > options.max_response_bytes) {
      return too_large();
    }
    if (!r.ec && !parser.is_done()) {
      r = run(
          [&](auto handler) { bhttp::async_read(stream_, buffer_, parser, std::move(handler)); });
    }
    if (r.ec == bhttp::error::body_limit) return too_large();
    if (r.ec && r.ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category() &&
        !is_disconnect(r.ec)) {
      return error(Code::kProtocol, what + ": malformed HTTP response: " + r.ec.message());
    }
    if (r.ec) return io_error(options, r.ec, what, timeout, "while reading the response");
    lowest.expires_never();

    auto& msg = parser.get();
    Response res;
    res.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
      res.headers.push_back(Header{std::string(field.name_string()), std::string(field.value())});
    }
    res.body = std::move(msg.body());
    // Leftover bytes after a complete response mean the peer and we disagree
    // on framing; such a connection cannot be trusted with another request.
    reusable_ = msg.keep_alive() && buffer_.size() == 0;
    return res;
  }

  bool reusable() const override { return reusable_; }

  bool looks_alive() override {
    if (buffer_.size() != 0) return false;
    auto& socket = beast::get_lowest_layer(stream_).socket();
    if (!socket.is_open()) return false;
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // 0: orderly close. >0: unsolicited bytes (a 408, a TLS alert) -- the
    // connection's state is unknown, so it is not reused either.
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

 private:
  static Stream make_stream(net::io_context& ioc, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(ioc, *tls);
    } else {
      (void)tls;
      return Stream(ioc);
    }
  }

  // Starts one async operation and runs the private io_context on this
  // thread until it (and its deadline timer) completes.
  template <typename Start>
  OpResult run(Start&& start) {
    OpResult result;
    start([&result](error_code ec, auto... args) {
      result.ec = ec;
      (take_bytes(result.bytes, args), ...);
    });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  Status io_error(const ClientOptions& options, const error_code& ec, const std::string& what,
                  std::chrono::milliseconds timeout, const char* when) {
    if (ec == beast::error::timeout) {
      return error(Code::kTimeout,
                   what + ": timed out after " + ms(timeout) + " " + when + " (request timeout)");
    }
    if (ec.category() == net::error::get_ssl_category() && ec != ssl::error::stream_truncated) {
      return error(Code::kTls, what + ": TLS error " + when + ": " + ec.message() +
                                   tls_error_advice(ec, options));
    }
    return error(Code::kUnavailable, what + ": connection lost " + when + ": " + ec.message());
  }

  net::io_context ioc_{1};  // before stream_: the stream is bound to it
  Stream stream_;
  beast::flat_buffer buffer_;
  bool reusable_ = false;
};

using PlainConnection = StreamConnection<beast::tcp_stream>;
using TlsConnection = StreamConnection<beast::ssl_stream<beast::tcp_stream>>;

}  // namespace

std::string describe_request(const ClientOptions& options, const Request& req) {
  Url url = options.url;
  url.base_path.clear();
  return req.method + " " + url.to_string() + full_target(options, req);
}

Result<std::unique_ptr<Connection>> Connection::open(const ClientOptions& options,
                                                     ssl::context* tls, const Request& req) {
  if (options.url.scheme == "https") {
    if (tls == nullptr) return error(Code::kInternal, "https connection without a TLS context");
    auto conn = std::make_unique<TlsConnection>(tls);
    TANDEM_RETURN_IF_ERROR(conn->connect(options, req));
    return std::unique_ptr<Connection>(std::move(conn));
  }
  auto conn = std::make_unique<PlainConnection>(nullptr);
  TANDEM_RETURN_IF_ERROR(conn->connect(options, req));
  return std::unique_ptr<Connection>(std::move(conn));
}

}  // namespace tandem::http::detail
