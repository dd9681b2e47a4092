// Live shadow reads: a sample of reads is sent again to the secondary from
// the shadow's own threads and connections, and the answers are compared
// with the primary's through the injected judge. See reads.h.

#include "proxy/reads.h"

#include "core/thread_name.h"

namespace tandem::proxy {

using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kDiffLines = 5;

std::optional<std::string> decoded_body(std::string_view coding, std::string_view bytes) {
  auto c = http::parse_content_coding(coding);
  if (c == http::ContentCoding::kIdentity) return std::string(bytes);
  auto d = http::decode_content(c, bytes, 256ull << 20);
  if (!d.is_ok()) return std::nullopt;
  return std::move(d).value();
}

std::string content_type_for(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  return path.find("_msearch") != std::string_view::npos ? "application/x-ndjson"
                                                         : "application/json";
}

}  // namespace

Result<std::unique_ptr<ShadowReads>> ShadowReads::start(const ShadowOptions& opts,
                                                        const std::string& secondary_url,
                                                        const http::TlsOptions& tls,
                                                        const std::string& env_prefix,
                                                        const ShadowJudge* judge) {
  if (!judge) return error(Code::kInvalidArgument, "shadow reads need a judge");
  if (secondary_url.empty()) {
    return error(Code::kInvalidArgument, "shadow reads need a secondary (secondary.url)");
  }
  TANDEM_ASSIGN_OR_RETURN(auto url, http::Url::parse(secondary_url));
  http::ClientOptions co;
  co.url = url;
  co.tls = tls;
  co.env_prefix = env_prefix;
  if (!env_prefix.empty()) {
    TANDEM_ASSIGN_OR_RETURN(co.credentials, http::Credentials::from_env(env_prefix));
  }
  co.connect_timeout = opts.connect_timeout;
  co.request_timeout = opts.timeout;
  co.max_retries = 0;  // a slow or dead secondary costs one attempt, then counts
  co.max_idle_connections = 4;
  std::unique_ptr<ShadowReads> s(new ShadowReads(opts, judge));
  const int n = std::max(1, opts.threads);
  for (int i = 0; i < n; ++i) {
    TANDEM_ASSIGN_OR_RETURN(auto c, http::make_client(co));
    s->clients_.push_back(std::move(c));
  }
  for (auto& c : s->clients_) {
    http::Client* cp = c.get();
    s->threads_.emplace_back([raw = s.get(), cp] {
      name_this_thread("tandem-shadow");
      raw->run(cp);
    });
  }
  return s;
}

ShadowReads::ShadowReads(const ShadowOptions& opts, const ShadowJudge* judge)
    : opts_(opts), judge_(judge), sampler_(opts.rate, opts.max_per_second) {}

ShadowReads::~ShadowReads() {
  {
    MutexLock lock(mu_);
    stop_ = true;
    queue_.clear();  // pending mirrors are not worth a slower shutdown
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ShadowReads::offer(std::shared_ptr<const ReadSample> s) {
  {
    MutexLock lock(mu_);
    if (Clock::now() < down_until_) {
      ++stats_.dropped_target_down;
      return;
    }
    if (queue_.size() >= opts_.queue_max) {
      ++stats_.dropped_queue_full;
      return;
    }
    queue_.push_back(std::move(s));
  }
  cv_.notify_one();
}

void ShadowReads::flush() {
  MutexLock lock(mu_);
  while (!queue_.empty() || busy_ != 0) idle_cv_.wait(mu_);
}

void ShadowReads::run(http::Client* client) {
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && queue_.empty()) cv_.wait(mu_);
    if (stop_) return;
    auto s = std::move(queue_.front());
    queue_.pop_front();
    if (Clock::now() < down_until_) {
      // Queued before the target was found down: drop, don't wait on it.
      ++stats_.dropped_target_down;
      if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
      continue;
    }
    ++busy_;
    lock.unlock();

    http::Request r;
    r.method = s->method;
    r.target = s->target;
    std::optional<std::string> body = decoded_body(s->body_coding, s->body);
    std::optional<std::string> primary = decoded_body(s->answer_coding, s->answer);
    std::string err;
    bool down = false;
    ShadowVerdict v;
    std::string shape;
    if (!body || !primary) {
      err = "a sampled read's body or answer did not decode: not mirrored";
    } else {
      shape = judge_->shape(s->method, s->target, *body);
      r.body = std::move(*body);
      if (!r.body.empty()) r.content_type = content_type_for(s->target);
      r.idempotent = true;
      auto resp = client->send(r);
      if (!resp.is_ok()) {
        err = "secondary: " + resp.status().message();
        down = true;
      } else {
        v = judge_->judge(s->status, *primary, resp.value().status, resp.value().body);
      }
    }

    lock.lock();
    --busy_;
    if (!err.empty()) {
      ++stats_.errors;
      stats_.last_error = err;
      if (down) down_until_ = Clock::now() + opts_.down_backoff;
    } else {
      ++stats_.sent;
      if (!stats_.shapes.count(shape) && stats_.shapes.size() >= opts_.max_shapes) {
        shape = "(other)";
      }
      ShapeCount& sc = stats_.shapes[shape];
      ++sc.total;
      if (v.match) {
        ++stats_.matched;
        ++sc.matched;
      } else {
        ++stats_.mismatched;
        ++sc.mismatched;
        if (sc.example.empty()) {
          sc.example = s->method + " " + s->target;
          sc.example_diff = std::move(v.diff);
          if (sc.example_diff.size() > kDiffLines) sc.example_diff.resize(kDiffLines);
        }
      }
    }
    if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
  }
}

ShadowReads::Stats ShadowReads::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

ShadowStatus ShadowReads::status() const {
  Stats s = stats();
  ShadowStatus out;
  out.rate = opts_.rate;
  out.max_per_second = opts_.max_per_second;
  out.sent = s.sent;
  out.matched = s.matched;
  out.mismatched = s.mismatched;
  out.errors = s.errors;
  out.dropped_queue_full = s.dropped_queue_full;
  out.dropped_target_down = s.dropped_target_down;
  out.over_budget = sampler_.over_budget();
  out.last_error = std::move(s.last_error);
  out.shapes = std::move(s.shapes);
  return out;
}

}  // namespace tandem::proxy
