// One client connection of the proxy: parse with limits, gate and capture
// writes, forward, answer with the primary's bytes. See server.h.
#include <algorithm>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <functional>
#include <optional>

#include "proxy/front_door.h"
#include "proxy/server_headers.h"
#include "proxy/server_internal.h"

namespace tandem::proxy::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
using beast::error_code;
using Clock = std::chrono::steady_clock;
using tcp = net::ip::tcp;

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// After a rejection the client may still be sending its body; reading (and
// dropping) a bounded amount of it before closing lets the client see the
// error instead of a connection reset.
constexpr size_t kLingerBytes = 1u << 20;
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr size_t kBodyReadBytes = 64u << 10;

enum class State { kIdle, kReading, kBusy, kClosed };

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(Worker& w, Args&&... args)
      : w_(w),
        sh_(*w.shared),
        limits_(FrontDoorLimits::from(sh_.opts)),
        stream_(std::forward<Args>(args)...) {
    sh_.open.fetch_add(1);
    sh_.deps.metrics->connection_opened();
    w_.sessions.insert(this);
  }
  ~Session() override {
    w_.sessions.erase(this);
    sh_.deps.metrics->connection_closed();
    sh_.open.fetch_sub(1);
  }

  void run() {
    if constexpr (kTls) {
      lowest().expires_after(sh_.opts.client_header_timeout);
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec) return self->close();
                                self->idle();
                              });
    } else {
      idle();
    }
  }

  void on_drain() override {
    if (state_ == State::kIdle) close();
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  using Body = bhttp::string_body;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  const ServerOptions& opts() const { return sh_.opts; }

  // ---- reading -------------------------------------------------------------

  void idle() {
    if (sh_.draining.load()) return close();
    state_ = State::kIdle;
    if (buf_.size() > 0) return read_header();  // pipelined bytes already here
    // An idle connection keeps no more than the 4 KB its next read needs
    // (read_body grows the buffer for a body); 1,000 idle keep-alive
    // clients then cost 4 MB of buffers, not 64.
    if (buf_.capacity() > 4096) buf_.shrink_to_fit();
    lowest().expires_after(opts().client_idle_timeout);
    stream_.async_read_some(buf_.prepare(4096),
                            [self = this->shared_from_this()](error_code ec, std::size_t n) {
                              if (ec) return self->close();
                              self->buf_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    state_ = State::kReading;
    parser_.emplace();
    configure_request_parser(*parser_, limits_);
    lowest().expires_after(opts().client_header_timeout);
    bhttp::async_read_header(stream_, buf_, *parser_,
                             [self = this->shared_from_this()](error_code ec, std::size_t n) {
                               self->on_header(ec, n);
                             });
  }

  // `header_bytes`: what the parser consumed for the header (see
  // header_rejection()).
  void on_header(error_code ec, std::size_t header_bytes) {
    if (ec) return on_read_error(ec, /*in_header=*/true);
    const auto& req = parser_->get();
    if (auto r = header_rejection(req, limits_, header_bytes)) return reject(std::move(*r));
    if (is_100_continue(req) && !parser_->is_done()) {
      lowest().expires_after(opts().client_write_timeout);
      return net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                              [self = this->shared_from_this()](error_code ec, std::size_t) {
                                if (ec) return self->close();
                                self->read_body();
                              });
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return handle();
    // Beast reads at most the buffer's free capacity per call, so a body
    // read through the 4 KB idle buffer costs a syscall per 4 KB (25 for a
    // 100-document _bulk); 64 KB reads take one or two.
    if (buf_.capacity() < kBodyReadBytes) buf_.reserve(kBodyReadBytes);
    lowest().expires_after(opts().client_body_timeout);
    bhttp::async_read(stream_, buf_, *parser_,
                      [self = this->shared_from_this()](error_code ec, std::size_t) {
                        if (ec) return self->on_read_error(ec, /*in_header=*/false);
                        self->handle();
                      });
  }

  void on_read_error(error_code ec, bool in_header) {
    const std::string_view buffered(static_cast<const char*>(buf_.data().data()), buf_.size());
    if (auto r = read_error_rejection(ec, in_header, parser_->get(), buffered, limits_)) {
      return reject(std::move(*r));
    }
    // The client went away or was too slow: nothing to answer.
    if (ec == beast::error::timeout) sh_.deps.metrics->rejection("client_timeout");
    close();
  }

  // ---- handling ------------------------------------------------------------

  void handle() {
    state_ = State::kBusy;
    t0_ = Clock::now();
    upstream_ns_ = {};
    timed_write_ = false;
    req_ = parser_->release();
    parser_.reset();
    sh_.requests.fetch_add(1, std::memory_order_relaxed);
    keep_alive_ = req_.keep_alive();
    head_ = req_.method() == bhttp::verb::head;
    cls_ = sh_.deps.classify(
        std::string_view(req_.method_string().data(), req_.method_string().size()),
        std::string_view(req_.target().data(), req_.target().size()));
    cls_name_ = class_name(cls_.cls);
    client_target_ = std::string(req_.target());
    strip_hop_by_hop(req_, /*request=*/true);
    if (cls_.cls == RequestClass::kRead) return forward(w_.primary());

    // A write: admission through the role gate first.
    auto admitted = sh_.deps.roles->admit_write(resume<WriteLease>(
        [](Session& self, WriteLease lease) { self.on_admitted(std::move(lease)); }));
    if (!admitted.is_ok()) {
      return local_reply(
          503, es_error_body(503, "tandem_write_held_exception", admitted.status().message()));
    }
    if (!admitted.value()) return park();  // held by a role switch
    on_admitted(std::move(*admitted.value()));
  }

  void on_admitted(WriteLease lease) {
    if (!lease.held()) {
      // A flip held this write past its bound (RoleTable::
      // expire_held_past_bound): answer 503 rather than guess a primary.
      return local_reply(503, es_error_body(503, "tandem_write_held_exception",
                                            "a cutover is holding writes past its bound; retry"));
    }
    lease_ = std::move(lease);
    stages_ = {};
    stages_.admit = Clock::now() - t0_;
    headers_ = to_header_list(req_);
    RequestView view;
    view.method = std::string_view(req_.method_string().data(), req_.method_string().size());
    view.target = client_target_;
    view.headers = &headers_;
    view.body = req_.body();
    // Intents are fdatasync'd off this I/O thread: other connections on it
    // keep moving while this one waits.
    park();
    const auto called = Clock::now();
    sh_.deps.capture->begin_async(
        view, cls_,
        resume<BeginResult>([](Session& self, BeginResult br) { self.on_begun(std::move(br)); }));
    waiting_since_ = Clock::now();
    stages_.prepare = waiting_since_ - called;
  }

  // The wait that began at `waiting_since_` ended: the outside thread's share
  // goes to `stage`, the rest (its callback -> this continuation) to hop.
  void end_wait(std::chrono::nanoseconds& stage) {
    const auto now = Clock::now();
    const auto fired = std::clamp(called_at_, waiting_since_, now);
    stage = fired - waiting_since_;
    stages_.hop += now - fired;
  }

  void on_begun(BeginResult br) {
    end_wait(stages_.intents);
    if (br.reply) {
      lease_.release();
      return local_reply(br.reply->status, std::move(br.reply->body));
    }
    ticket_ = std::move(br.ticket);
    timed_write_ = true;
    if (ticket_->rewritten_target) client_target_ = *ticket_->rewritten_target;
    if (ticket_->rewritten_body) req_.body() = std::move(*ticket_->rewritten_body);
    forward(w_.primary());
  }

  void forward(std::shared_ptr<const UpstreamTarget> target) {
    target_ = std::move(target);
    req_.target(target_->url.base_path + client_target_);
    req_.version(11);
    req_.keep_alive(true);
    req_.prepare_payload();
    forwarded_at_ = Clock::now();
    w_.pool->send(target_, &req_, head_, /*retry_safe=*/!ticket_,
                  [self = this->shared_from_this()](UpstreamOutcome out) {
                    self->on_upstream(std::move(out));
                  });
  }

  void on_upstream(UpstreamOutcome out) {
    upstream_ns_ = out.elapsed;
    stages_.forward =
        std::max(std::chrono::nanoseconds{0},
                 std::chrono::nanoseconds(Clock::now() - forwarded_at_) - out.elapsed);
    if (out.ec) return on_upstream_error(out);
    res_ = std::move(out.response);
    if (!ticket_) {
      if (sh_.deps.reads) tap_read();
      return respond(std::nullopt);
    }
    up_headers_ = to_header_list(res_);
    UpstreamAnswer answer;
    answer.status = static_cast<int>(res_.result_int());
    answer.headers = &up_headers_;
    original_size_ = res_.body().size();
    answer.body = std::move(res_.body());
    park();
    const auto called = Clock::now();
    sh_.deps.capture->complete(std::move(*ticket_), std::move(answer),
                               resume<std::string>([](Session& self, std::string client_body) {
                                 self.end_wait(self.stages_.log);
                                 self.lease_.release();  // events are durable
                                 self.respond(std::move(client_body));
                               }));
    waiting_since_ = Clock::now();
    stages_.events = waiting_since_ - called;
    ticket_.reset();
  }

  void on_upstream_error(const UpstreamOutcome& out) {
    timed_write_ = false;  // not a write's normal path: its stages would mislead
    const bool timeout = out.ec == beast::error::timeout;
    const char* stage = out.stage == UpstreamStage::kConnect ? "connect"
                        : out.stage == UpstreamStage::kSend  ? "send"
                                                             : "receive";
    sh_.deps.metrics->upstream_error(timeout ? "timeout" : stage);
    const int status = timeout && out.stage != UpstreamStage::kConnect ? 504 : 502;
    std::string reason =
        "primary " + target_->describe() + " " +
        (timeout ? std::string("timed out")
                 : "failed: " + (out.detail.empty() ? out.ec.message() : out.detail)) +
        " (" + stage + ")";
    sh_.log("warn", reason + " for " + std::string(req_.method_string()) + " " + cls_.endpoint);
    std::string body = es_error_body(
        status, timeout ? "tandem_upstream_timeout_exception" : "tandem_upstream_exception",
        reason);
    if (!ticket_) return local_reply(status, std::move(body));
    if (out.maybe_applied) {
      // The write may have been applied: capture keeps the intents open
      // and they become reconcile events.
      sh_.deps.capture->abandon(std::move(*ticket_));
      ticket_.reset();
      lease_.release();
      return local_reply(status, std::move(body));
    }
    // Nothing reached the primary: let capture settle the intents.
    empty_headers_.clear();
    UpstreamAnswer answer;
    answer.status = 0;
    answer.headers = &empty_headers_;
    park();
    auto b = std::make_shared<std::string>(std::move(body));
    sh_.deps.capture->complete(std::move(*ticket_), std::move(answer),
                               resume<std::string>([status, b](Session& self, std::string) {
                                 self.lease_.release();
                                 self.local_reply(status, std::move(*b));
                               }));
    ticket_.reset();
  }

  // A read the primary answered: read capture / shadow reads sample it
  // (reads.h); request headers are never passed on.
  void tap_read() {
    auto sv = [](auto v) { return std::string_view(v.data(), v.size()); };
    sh_.deps.reads->on_read(target_->name, sv(req_.method_string()), client_target_, req_.body(),
                            sv(req_[bhttp::field::content_encoding]),
                            static_cast<int>(res_.result_int()), res_.body(),
                            sv(res_[bhttp::field::content_encoding]));
  }

  // ---- answering -----------------------------------------------------------

  void respond(std::optional<std::string> body) {
    const bool was_chunked = res_.chunked();
    strip_hop_by_hop(res_, /*request=*/false);
    bool resize = was_chunked;
    if (body) {
      resize = resize || body->size() != original_size_;
      res_.body() = std::move(*body);
    }
    const int st = static_cast<int>(res_.result_int());
    const bool no_body = head_ || st == 204 || st == 304 || (st >= 100 && st < 200);
    if (resize && !no_body) res_.content_length(res_.body().size());
    finish_and_write(res_, st);
  }

  void local_reply(int status, std::string body) {
    local_.emplace(static_cast<bhttp::status>(status), 11);
    local_->set(bhttp::field::content_type, "application/json; charset=UTF-8");
    local_->body() = head_ ? std::string() : std::move(body);
    local_->prepare_payload();
    finish_and_write(*local_, status);
  }

  template <class Msg>
  void finish_and_write(Msg& msg, int status) {
    keep_alive_ = keep_alive_ && !sh_.draining.load();
    msg.keep_alive(keep_alive_);
    status_ = status;
    writing_since_ = Clock::now();
    lowest().expires_after(opts().client_write_timeout);
    bhttp::async_write(stream_, msg, [self = this->shared_from_this()](error_code ec, std::size_t) {
      self->on_written(ec);
    });
  }

  void on_written(error_code ec) {
    const auto now = Clock::now();
    const auto total = now - t0_;
    sh_.deps.metrics->request(cls_name_, status_, total - upstream_ns_, upstream_ns_);
    if (timed_write_ && !ec) {
      stages_.respond = now - writing_since_;
      sh_.deps.metrics->write_stages(stages_, total - upstream_ns_);
    }
    timed_write_ = false;
    lease_.release();
    local_.reset();
    res_ = {};
    req_ = {};
    target_.reset();
    if (ec || !keep_alive_) return close();
    idle();
  }

  // Front-door rejection: answer, then close (the rest of the stream can't
  // be trusted to be framed the way the client meant).
  void reject(FrontDoorRejection r) {
    state_ = State::kBusy;
    sh_.deps.metrics->rejection(r.metric);
    parser_.reset();
    t0_ = Clock::now();
    upstream_ns_ = {};
    cls_name_ = "rejected";
    keep_alive_ = false;
    head_ = false;
    local_.emplace(static_cast<bhttp::status>(r.status), 11);
    local_->set(bhttp::field::content_type, "application/json; charset=UTF-8");
    local_->body() = es_error_body(r.status, r.type, r.reason);
    local_->prepare_payload();
    local_->keep_alive(false);
    status_ = r.status;
    lowest().expires_after(opts().client_write_timeout);
    bhttp::async_write(stream_, *local_,
                       [self = this->shared_from_this()](error_code ec, std::size_t) {
                         sh_metrics_request(*self);
                         if (ec) return self->close();
                         self->linger();
                       });
  }

  static void sh_metrics_request(Session& s) {
    s.sh_.deps.metrics->request(s.cls_name_, s.status_, Clock::now() - s.t0_, {});
  }

  void linger() {
    state_ = State::kClosed;
    error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    if constexpr (kTls) return close();
    lingered_ = 0;
    lowest().expires_after(kLingerTime);
    drain_some();
  }

  void drain_some() {
    buf_.consume(buf_.size());
    lowest().async_read_some(buf_.prepare(64u << 10),
                             [self = this->shared_from_this()](error_code ec, std::size_t n) {
                               self->lingered_ += n;
                               if (ec || self->lingered_ > kLingerBytes) return self->close();
                               self->buf_.commit(n);
                               self->drain_some();
                             });
  }

  void close() {
    state_ = State::kClosed;
    error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  void park() { w_.parked[this] = this->shared_from_this(); }
  void unpark() { w_.parked.erase(this); }

  // The callback for something outside this worker (the role gate's
  // admission, capture's begin and complete), which may run on any thread:
  // it posts back to this connection's worker and there, if the session
  // still exists, unparks it and runs `then(session, value)`. It holds only
  // a weak pointer (Worker::parked keeps the session alive meanwhile), and
  // the gate drops it once the worker's io_context is gone.
  template <class T, class Then>
  std::function<void(T)> resume(Then then) {
    return [weak = std::weak_ptr<Session>(this->shared_from_this()), gate = w_.gate,
            then = std::move(then)](T value) {
      const auto fired = Clock::now();
      auto v = std::make_shared<T>(std::move(value));
      gate->post([weak, v, then, fired] {
        if (auto self = weak.lock()) {
          self->called_at_ = fired;
          self->unpark();
          then(*self, std::move(*v));
        }
      });
    };
  }

  Worker& w_;
  Shared& sh_;
  const FrontDoorLimits limits_;
  Stream stream_;
  beast::flat_buffer buf_;
  State state_ = State::kIdle;
  std::optional<FrontDoorParser> parser_;
  bhttp::request<Body> req_;
  bhttp::response<Body> res_;
  std::optional<bhttp::response<Body>> local_;
  std::string client_target_;
  Classification cls_;
  std::string_view cls_name_ = "read";
  std::vector<HttpHeader> headers_;
  std::vector<HttpHeader> up_headers_;
  std::vector<HttpHeader> empty_headers_;
  std::optional<Ticket> ticket_;
  WriteLease lease_;
  std::shared_ptr<const UpstreamTarget> target_;
  Clock::time_point t0_;
  std::chrono::nanoseconds upstream_ns_{0};
  // A write's stages (metrics.h, WriteStages), stamped on this worker;
  // called_at_ is when the last outside callback fired, on its thread.
  WriteStages stages_;
  Clock::time_point waiting_since_;
  Clock::time_point called_at_;
  Clock::time_point forwarded_at_;
  Clock::time_point writing_since_;
  bool timed_write_ = false;
  size_t original_size_ = 0;
  size_t lingered_ = 0;
  int status_ = 0;
  bool keep_alive_ = true;
  bool head_ = false;
};

}  // namespace

void Worker::start_session(tcp::socket socket) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  if (shared->listener_tls) {
    auto s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        *this, beast::tcp_stream(std::move(socket)), *shared->listener_tls);
    s->run();
  } else {
    auto s = std::make_shared<Session<beast::tcp_stream>>(*this, std::move(socket));
    s->run();
  }
}

}  // namespace tandem::proxy::detail
