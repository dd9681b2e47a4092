#include "proxy/admin.h"

#include <openssl/crypto.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>
#include <thread>
#include <type_traits>
#include <variant>

#include "core/mutex.h"
#include "core/thread_name.h"
#include "proxy/es_error.h"

namespace tandem::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using json = nlohmann::json;
using beast::error_code;

namespace {

json endpoint_json(const Endpoint& e) {
  return {{"name", e.name}, {"url", e.url}};
}

json roles_json(const RoleSnapshot& s) {
  return {{"primary", endpoint_json(s.primary)},
          {"secondary", endpoint_json(s.secondary)},
          {"epoch", s.epoch.get()},
          {"generation", s.generation}};
}

// Every numeric and boolean field of CaptureStatus, once: its key in
// /status's "capture" object and its metric. Both renderings walk this
// table, so a field is in both or in neither, and the keys are the ones
// docs/proxy.md lists. The enum, epoch and text fields follow in
// capture_json() and capture_metrics_text().
using CaptureMember =
    std::variant<uint64_t CaptureStatus::*, int64_t CaptureStatus::*, bool CaptureStatus::*>;
struct CaptureField {
  const char* key;     // in /status "capture"
  const char* metric;  // Prometheus name
  const char* type;    // "gauge" | "counter"
  const char* help;
  CaptureMember member;
};

const CaptureField kCaptureFields[] = {
    {"events_emitted", "tandem_proxy_capture_events_emitted", "gauge",
     "Change events emitted, reconciles included", &CaptureStatus::events_emitted},
    {"events_logged", "tandem_proxy_capture_events_logged_total", "counter",
     "Events the main log acknowledged on the live path", &CaptureStatus::events_logged},
    {"spill_depth", "tandem_proxy_capture_spill_depth", "gauge",
     "Events waiting in the spill journal (-1 until first measured)", &CaptureStatus::spill_depth},
    {"spilled_total", "tandem_proxy_capture_spilled_total", "counter",
     "Events the spill journal acknowledged", &CaptureStatus::spilled_total},
    {"drained_total", "tandem_proxy_capture_drained_total", "counter",
     "Events moved from the spill journal into the log", &CaptureStatus::drained_total},
    {"spill_reclaimed_total", "tandem_proxy_capture_spill_reclaimed_total", "counter",
     "Drained events whose journal space was freed", &CaptureStatus::spill_reclaimed_total},
    {"stranded", "tandem_proxy_capture_stranded", "gauge",
     "Events in memory only, in neither the log nor the spill journal", &CaptureStatus::stranded},
    {"refused_total", "tandem_proxy_capture_refused_events", "gauge",
     "Events the log refused for good, sent as reconciles", &CaptureStatus::refused_total},
    {"dead_letters", "tandem_proxy_capture_dead_letters", "gauge",
     "Refused events with no stand-in, written as dead letters", &CaptureStatus::dead_letters},
    {"spill_open", "tandem_proxy_capture_spill_open", "gauge", "1 when the spill journal is usable",
     &CaptureStatus::spill_open},
    {"fail_closed", "tandem_proxy_capture_fail_closed", "gauge",
     "1 when writes are refused because neither the log nor the spill journal takes them",
     &CaptureStatus::fail_closed},
    {"async_window", "tandem_proxy_capture_async_window", "gauge",
     "Events published and not yet settled", &CaptureStatus::async_window},
    {"intents_open", "tandem_proxy_capture_intents_open", "gauge",
     "Write-ahead intents not yet settled", &CaptureStatus::intents_open},
    {"requests_open", "tandem_proxy_capture_requests_open", "gauge",
     "Requests with open write-ahead intents", &CaptureStatus::requests_open},
    {"recovered_reconciles", "tandem_proxy_capture_recovered_reconciles", "gauge",
     "Reconciles sent at start-up for intents a previous run left open",
     &CaptureStatus::recovered_reconciles},
    {"abandoned_total", "tandem_proxy_capture_abandoned_total", "counter",
     "Writes abandoned mid-flight (the primary's answer was lost)",
     &CaptureStatus::abandoned_total},
    {"rejected_multi_doc", "tandem_proxy_capture_rejected_multi_doc_total", "counter",
     "Multi-document writes refused by multi_doc_policy: reject",
     &CaptureStatus::rejected_multi_doc},
    {"rejected_unavailable", "tandem_proxy_capture_rejected_unavailable_total", "counter",
     "Writes refused with 503: fail-closed, or intents could not be journaled",
     &CaptureStatus::rejected_unavailable},
    {"marks_failed", "tandem_proxy_capture_marks_failed_total", "counter",
     "Needs-verification marks the state store refused", &CaptureStatus::marks_failed},
};

const char* mode_name(Durability d) {
  return d == Durability::kSync ? "sync" : "async";
}
const char* policy_name(MultiDocPolicy p) {
  return p == MultiDocPolicy::kReject ? "reject" : "allow";
}

json capture_json(const CaptureStatus& s) {
  json j = {{"mode", mode_name(s.durability)},
            {"epoch", s.epoch.get()},
            {"multi_doc_policy", policy_name(s.multi_doc)},
            {"last_error", s.last_error},
            {"last_mark_error", s.last_mark_error}};
  for (const CaptureField& f : kCaptureFields) {
    std::visit([&](auto m) { j[f.key] = s.*m; }, f.member);
  }
  return j;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

json flip_json(const FlipStatus& f) {
  return {{"id", f.id},
          {"step", std::string(flip_step_name(f.step))},
          {"from_epoch", f.from.get()},
          {"to_epoch", f.to.get()},
          {"held_us", f.held.count()},
          {"writes_held", f.writes_held},
          {"rejected_past_bound", f.rejected_past_bound},
          {"past_bound", f.past_bound}};
}

std::string capture_metrics_text(const CaptureStatus& s) {
  // The text fields stay in /status: free text as a label value would make
  // a new series per message.
  std::string out =
      "# HELP tandem_proxy_capture_info The capture's durability mode and multi-document "
      "policy\n# TYPE tandem_proxy_capture_info gauge\ntandem_proxy_capture_info{mode=\"";
  out += mode_name(s.durability);
  out += "\",multi_doc_policy=\"";
  out += policy_name(s.multi_doc);
  out += "\"} 1\n";
  out +=
      "# HELP tandem_proxy_capture_epoch Epoch of the events emitted now\n"
      "# TYPE tandem_proxy_capture_epoch gauge\ntandem_proxy_capture_epoch " +
      std::to_string(s.epoch.get()) + "\n";
  for (const CaptureField& f : kCaptureFields) {
    const std::string value = std::visit(
        [&](auto m) {
          if constexpr (std::is_same_v<decltype(m), bool CaptureStatus::*>) {
            return std::string(s.*m ? "1" : "0");
          } else {
            return std::to_string(s.*m);
          }
        },
        f.member);
    out += std::string("# HELP ") + f.metric + " " + f.help + "\n# TYPE " + f.metric + " " +
           f.type + "\n" + f.metric + " " + value + "\n";
  }
  return out;
}

namespace {

json read_capture_json(const ReadCaptureStatus& s) {
  return {{"file", s.file},
          {"rate", s.rate},
          {"max_per_second", s.max_per_second},
          {"written", s.written},
          {"bytes", s.bytes},
          {"max_bytes", s.max_bytes},
          {"full", s.full},
          {"dropped_queue_full", s.dropped_queue_full},
          {"dropped_store_full", s.dropped_store_full},
          {"over_budget", s.over_budget},
          {"failed", s.failed},
          {"last_error", s.last_error}};
}

json shadow_json(const ShadowStatus& s) {
  json shapes = json::array();
  for (const auto& [shape, c] : s.shapes) {
    shapes.push_back({{"shape", shape},
                      {"total", c.total},
                      {"matched", c.matched},
                      {"mismatched", c.mismatched},
                      {"example", c.example},
                      {"diff", c.example_diff}});
  }
  // A percentage here, a ratio in /metrics; nothing sent counts as all matched.
  const double rate =
      s.sent == 0 ? 100.0 : 100.0 * static_cast<double>(s.matched) / static_cast<double>(s.sent);
  return {{"rate", s.rate},
          {"max_per_second", s.max_per_second},
          {"sent", s.sent},
          {"matched", s.matched},
          {"mismatched", s.mismatched},
          {"match_rate", rate},
          {"errors", s.errors},
          {"dropped_queue_full", s.dropped_queue_full},
          {"dropped_target_down", s.dropped_target_down},
          {"over_budget", s.over_budget},
          {"last_error", s.last_error},
          {"shapes", std::move(shapes)}};
}

std::string read_capture_metrics_text(const ReadCaptureStatus& s) {
  std::string out =
      "# HELP tandem_proxy_read_capture_total Sampled reads for the read-capture store, by "
      "outcome\n# TYPE tandem_proxy_read_capture_total counter\n";
  auto line = [&](const char* outcome, uint64_t v) {
    out += "tandem_proxy_read_capture_total{outcome=\"" + std::string(outcome) + "\"} " +
           std::to_string(v) + "\n";
  };
  line("written", s.written);
  line("dropped_queue_full", s.dropped_queue_full);
  line("dropped_store_full", s.dropped_store_full);
  line("over_budget", s.over_budget);
  line("failed", s.failed);
  out += "# TYPE tandem_proxy_read_capture_bytes gauge\ntandem_proxy_read_capture_bytes " +
         std::to_string(s.bytes) + "\n";
  out += "# TYPE tandem_proxy_read_capture_full gauge\ntandem_proxy_read_capture_full " +
         std::string(s.full ? "1" : "0") + "\n";
  return out;
}

std::string shadow_metrics_text(const ShadowStatus& s) {
  std::string out =
      "# HELP tandem_proxy_shadow_reads_total Reads mirrored to the secondary, by outcome\n"
      "# TYPE tandem_proxy_shadow_reads_total counter\n";
  auto line = [&](const char* outcome, uint64_t v) {
    out += "tandem_proxy_shadow_reads_total{outcome=\"" + std::string(outcome) + "\"} " +
           std::to_string(v) + "\n";
  };
  line("matched", s.matched);
  line("mismatched", s.mismatched);
  line("error", s.errors);
  line("dropped_queue_full", s.dropped_queue_full);
  line("dropped_target_down", s.dropped_target_down);
  line("over_budget", s.over_budget);
  const double rate =
      s.sent == 0 ? 1.0 : static_cast<double>(s.matched) / static_cast<double>(s.sent);
  out += "# TYPE tandem_proxy_shadow_match_ratio gauge\ntandem_proxy_shadow_match_ratio " +
         std::to_string(rate) + "\n";
  out +=
      "# HELP tandem_proxy_shadow_shape_total Mirrored reads per query shape and outcome\n"
      "# TYPE tandem_proxy_shadow_shape_total counter\n";
  for (const auto& [shape, c] : s.shapes) {
    const std::string l = prometheus_label(shape);
    out += "tandem_proxy_shadow_shape_total{shape=\"" + l + "\",outcome=\"matched\"} " +
           std::to_string(c.matched) + "\n";
    out += "tandem_proxy_shadow_shape_total{shape=\"" + l + "\",outcome=\"mismatched\"} " +
           std::to_string(c.mismatched) + "\n";
  }
  return out;
}

}  // namespace

std::string reads_status_json(const ReadsStatus& s) {
  json j = {{"capture", s.capture ? read_capture_json(*s.capture) : json(nullptr)},
            {"shadow", s.shadow ? shadow_json(*s.shadow) : json(nullptr)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string reads_metrics_text(const ReadsStatus& s) {
  std::string out;
  if (s.capture) out += read_capture_metrics_text(*s.capture);
  if (s.shadow) out += shadow_metrics_text(*s.shadow);
  return out;
}

std::string admin_status_json(const RoleTable& roles, const WriteCapture& capture,
                              const Server* server) {
  const auto gate = roles.stats();
  const CaptureStatus cap = capture.status();
  json out = {
      {"roles", roles_json(*roles.snapshot())},
      {"gate",
       {{"writes_in_flight", gate.writes_in_flight},
        {"writes_held", gate.writes_held},
        {"switching", gate.switching},
        {"switches", gate.switches},
        {"rejected_while_held", gate.rejected_while_held}}},
      {"capture", capture_json(cap)},
      {"fail_closed", cap.fail_closed},
      {"flip", flip_json(roles.flip_status())},
  };
  if (server) {
    const auto s = server->stats();
    out["server"] = {{"accepted", s.accepted},
                     {"open_connections", s.open_connections},
                     {"requests", s.requests}};
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string admin_metrics_text(const RoleTable& roles, const WriteCapture& capture,
                               ProxyMetrics& metrics) {
  const auto gate = roles.stats();
  metrics.set_gate(static_cast<double>(gate.writes_in_flight),
                   static_cast<double>(gate.writes_held));
  return metrics.serialize() + capture_metrics_text(capture.status());
}

struct AdminServer::Impl {
  AdminConfig cfg;
  AdminDeps deps;
  net::io_context ioc{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  uint16_t port = 0;

  void accept();
  void serve(std::shared_ptr<beast::tcp_stream> stream);
  bhttp::response<bhttp::string_body> route(const bhttp::request<bhttp::string_body>& req);
  bhttp::response<bhttp::string_body> do_switch(const bhttp::request<bhttp::string_body>& req);
  bhttp::response<bhttp::string_body> do_flip(std::string_view step, std::string_view target);

  // The resolver: expires held writes past the bound and, past it, reads
  // the recorded decision of a prepared flip (AdminDeps::read_decision).
  std::thread resolver;
  Mutex resolver_mu;
  CondVar resolver_cv;
  bool stopping TANDEM_GUARDED_BY(resolver_mu) = false;
  void resolve_loop();
  Status commit(const std::string& id, Epoch epoch, const char* by, json* out);
};

namespace {

bhttp::response<bhttp::string_body> reply(int status, std::string body,
                                          const char* type = "application/json") {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, type);
  res.body() = std::move(body);
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

bhttp::response<bhttp::string_body> error_reply(int status, const char* type, std::string reason) {
  return reply(status, es_error_body(status, type, reason));
}

}  // namespace

void AdminServer::Impl::accept() {
  acceptor->async_accept([this](error_code ec, tcp::socket s) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (!ec) serve(std::make_shared<beast::tcp_stream>(std::move(s)));
    accept();
  });
}

void AdminServer::Impl::serve(std::shared_ptr<beast::tcp_stream> stream) {
  auto buf = std::make_shared<beast::flat_buffer>();
  auto parser = std::make_shared<bhttp::request_parser<bhttp::string_body>>();
  parser->body_limit(64u << 10);
  parser->header_limit(16u << 10);
  stream->expires_after(std::chrono::seconds(10));
  bhttp::async_read(*stream, *buf, *parser,
                    [this, stream, buf, parser](error_code ec, std::size_t) {
                      auto res = std::make_shared<bhttp::response<bhttp::string_body>>(
                          ec ? error_reply(400, "illegal_argument_exception",
                                           "malformed request: " + ec.message())
                             : route(parser->get()));
                      bhttp::async_write(*stream, *res, [stream, res](error_code, std::size_t) {
                        error_code ignored;
                        stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
                        stream->close();
                      });
                    });
}

bhttp::response<bhttp::string_body> AdminServer::Impl::route(
    const bhttp::request<bhttp::string_body>& req) {
  if (!cfg.token.empty()) {
    const auto field = req[bhttp::field::authorization];
    const std::string_view auth(field.data(), field.size());
    constexpr std::string_view kBearer = "Bearer ";
    if (auth.size() <= kBearer.size() || auth.substr(0, kBearer.size()) != kBearer ||
        !constant_time_equal(auth.substr(kBearer.size()), cfg.token.reveal())) {
      auto res = error_reply(401, "security_exception", "admin API requires a valid bearer token");
      res.set(bhttp::field::www_authenticate, "Bearer");
      return res;
    }
  }
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == "/status" && req.method() == bhttp::verb::get) {
    std::string body = admin_status_json(*deps.roles, *deps.capture, deps.server);
    if (deps.reads && !body.empty() && body.back() == '}') {
      body.pop_back();
      body += ",\"reads\":" + reads_status_json(deps.reads->status()) + "}";
    }
    return reply(200, body);
  }
  if (path == "/metrics" && req.method() == bhttp::verb::get) {
    std::string text = admin_metrics_text(*deps.roles, *deps.capture, *deps.metrics);
    if (deps.reads) text += reads_metrics_text(deps.reads->status());
    return reply(200, text, "text/plain; version=0.0.4");
  }
  if (path == "/roles/switch" && req.method() == bhttp::verb::post) return do_switch(req);
  if (path == "/flip" && req.method() == bhttp::verb::get) {
    return reply(200, flip_json(deps.roles->flip_status()).dump());
  }
  if (path.starts_with("/flip/") && req.method() == bhttp::verb::post) {
    return do_flip(path.substr(6), target);
  }
  if (path == "/status" || path == "/metrics" || path == "/roles/switch") {
    return error_reply(
        405, "method_not_allowed_exception",
        "method " + std::string(req.method_string()) + " not allowed on " + std::string(path));
  }
  return error_reply(404, "resource_not_found_exception", "no admin endpoint " + std::string(path));
}

bhttp::response<bhttp::string_body> AdminServer::Impl::do_switch(
    const bhttp::request<bhttp::string_body>& req) {
  if (!deps.secondary_configured) {
    return error_reply(409, "tandem_switch_exception", "no secondary is configured");
  }
  auto timeout = deps.switch_drain_timeout;
  const std::string_view target(req.target().data(), req.target().size());
  if (auto q = target.find("?timeout="); q != std::string_view::npos) {
    auto t = parse_duration(target.substr(q + 9, target.find('&', q + 9) - (q + 9)));
    if (!t.is_ok())
      return error_reply(400, "illegal_argument_exception", "timeout: " + t.status().message());
    timeout = t.value();
  }
  auto r = deps.roles->switch_roles(timeout, deps.on_switch);
  if (!r.is_ok()) {
    const Code c = r.status().code();
    const int status = c == Code::kTimeout ? 504 : c == Code::kFailedPrecondition ? 409 : 500;
    if (deps.log) deps.log("warn", "role switch failed: " + r.status().to_string());
    return error_reply(status, "tandem_switch_exception", r.status().message());
  }
  const auto& rep = r.value();
  if (deps.log) {
    deps.log("info", "roles switched: primary " + rep.before.primary.name + " -> " +
                         rep.after.primary.name + ", epoch " +
                         std::to_string(rep.after.epoch.get()) + ", writes held " +
                         std::to_string(rep.held.count()) + " us");
  }
  json out = {{"acknowledged", true},
              {"before", roles_json(rep.before)},
              {"after", roles_json(rep.after)},
              {"held_us", rep.held.count()},
              {"writes_held", rep.writes_held}};
  return reply(200, out.dump());
}

namespace {

// The value of `name` in the query string, or "" (ids and numbers only:
// no percent-decoding needed, and ids with other bytes are refused).
std::string query_param(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == name) {
      return std::string(kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return {};
}

bool valid_flip_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

int http_status_for(const Status& s) {
  switch (s.code()) {
    case Code::kTimeout:
      return 504;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kInvalidArgument:
      return 400;
    default:
      return 500;
  }
}

}  // namespace

Status AdminServer::Impl::commit(const std::string& id, Epoch epoch, const char* by, json* out) {
  auto r = deps.roles->commit_flip(id, epoch, deps.on_switch);
  if (!r.is_ok()) return r.status();
  const auto& rep = r.value();
  if (deps.log) {
    deps.log("info", std::string("flip ") + id + " committed (" + by + "): primary " +
                         rep.before.primary.name + " -> " + rep.after.primary.name + ", epoch " +
                         std::to_string(rep.after.epoch.get()) + ", writes held " +
                         std::to_string(rep.held.count()) + " us");
  }
  if (out) {
    *out = {{"committed", true},
            {"id", id},
            {"before", roles_json(rep.before)},
            {"after", roles_json(rep.after)},
            {"held_us", rep.held.count()},
            {"writes_held", rep.writes_held}};
  }
  return Status::ok();
}

bhttp::response<bhttp::string_body> AdminServer::Impl::do_flip(std::string_view step,
                                                               std::string_view target) {
  const std::string id = query_param(target, "id");
  if (!valid_flip_id(id)) {
    return error_reply(400, "illegal_argument_exception",
                       "flip id missing or not [A-Za-z0-9._-]{1,128}");
  }
  auto duration_param = [&](const char* name,
                            std::chrono::milliseconds def) -> Result<std::chrono::milliseconds> {
    const std::string v = query_param(target, name);
    if (v.empty()) return def;
    auto d = parse_duration(v);
    if (!d.is_ok()) return d.status().context(name);
    return d.value();
  };
  if (step == "prepare") {
    if (!deps.secondary_configured) {
      return error_reply(409, "tandem_flip_exception", "no secondary is configured");
    }
    auto drain = duration_param("drain", deps.switch_drain_timeout);
    auto hold = duration_param("hold", std::chrono::seconds(10));
    if (!drain.is_ok())
      return error_reply(400, "illegal_argument_exception", drain.status().message());
    if (!hold.is_ok())
      return error_reply(400, "illegal_argument_exception", hold.status().message());
    auto r = deps.roles->prepare_flip(id, drain.value(), hold.value(), deps.on_prepare);
    if (!r.is_ok()) {
      if (deps.log) deps.log("warn", "flip prepare failed: " + r.status().to_string());
      return error_reply(http_status_for(r.status()), "tandem_flip_exception",
                         r.status().message());
    }
    // Under the resolver's mutex, so the wake-up cannot fall between its
    // check of the flip and its wait (it sleeps long while no flip is held).
    { MutexLock l(resolver_mu); }
    resolver_cv.notify_all();
    json out = {{"prepared", true}, {"id", id}, {"roles", roles_json(r.value())}};
    return reply(200, out.dump());
  }
  if (step == "commit") {
    const std::string e = query_param(target, "epoch");
    char* end = nullptr;
    const unsigned long long epoch = std::strtoull(e.c_str(), &end, 10);
    if (e.empty() || *end != '\0' || epoch > UINT32_MAX) {
      return error_reply(400, "illegal_argument_exception", "epoch missing or not a number");
    }
    json out;
    Status s = commit(id, Epoch(static_cast<uint32_t>(epoch)), "coordinator", &out);
    if (!s.is_ok()) {
      if (deps.log) deps.log("warn", "flip commit failed: " + s.to_string());
      return error_reply(http_status_for(s), "tandem_flip_exception", s.message());
    }
    return reply(200, out.dump());
  }
  if (step == "abort") {
    auto r = deps.roles->abort_flip(id);
    if (!r.is_ok()) {
      return error_reply(http_status_for(r.status()), "tandem_flip_exception",
                         r.status().message());
    }
    if (deps.log)
      deps.log("info", "flip " + id + " aborted: writes released to the unchanged primary");
    json out = {{"aborted", true}, {"id", id}, {"held_us", r.value().held.count()}};
    return reply(200, out.dump());
  }
  return error_reply(404, "resource_not_found_exception",
                     "no admin endpoint /flip/" + std::string(step));
}

void AdminServer::Impl::resolve_loop() {
  auto last_read = std::chrono::steady_clock::time_point{};
  MutexLock lock(resolver_mu);
  bool held = false;
  while (!stopping) {
    // Every 50 ms while a flip holds writes (its bound, the decision); else
    // asleep until a prepare wakes it, with 1 s as a safety net, rather
    // than 20 idle wake-ups a second for the life of the proxy.
    resolver_cv.wait_for(resolver_mu,
                         held ? std::chrono::milliseconds(50) : std::chrono::seconds(1));
    if (stopping) break;
    const FlipStatus f = deps.roles->flip_status();
    held = f.step == FlipStep::kPrepared;
    if (f.step != FlipStep::kPrepared) continue;
    lock.unlock();
    deps.roles->expire_held_past_bound();
    const FlipStatus g = deps.roles->flip_status();
    const auto now = std::chrono::steady_clock::now();
    if (g.past_bound && deps.read_decision && now - last_read >= deps.decision_poll) {
      last_read = now;
      auto d = deps.read_decision(g.id);
      if (!d.is_ok()) {
        if (deps.log) {
          deps.log("warn", "flip " + g.id + ": cannot read the decision, still holding: " +
                               d.status().to_string());
        }
      } else if (d.value() && d.value()->commit) {
        Status s = commit(g.id, d.value()->epoch, "read from the control channel", nullptr);
        if (!s.is_ok() && deps.log) deps.log("error", "flip " + g.id + ": " + s.to_string());
      } else if (d.value()) {
        (void)deps.roles->abort_flip(g.id);
        if (deps.log) deps.log("info", "flip " + g.id + " aborted (read from the control channel)");
      }
    }
    lock.lock();
  }
}

Result<std::unique_ptr<AdminServer>> AdminServer::start(const AdminConfig& cfg, AdminDeps deps) {
  if (!deps.roles || !deps.capture || !deps.metrics) {
    return error(Code::kInvalidArgument, "admin API needs roles, capture and metrics");
  }
  auto impl = std::make_unique<Impl>();
  impl->cfg = cfg;
  impl->deps = std::move(deps);
  const std::string where = cfg.host + ":" + std::to_string(cfg.port);
  error_code ec;
  auto addr = net::ip::make_address(cfg.host, ec);
  if (ec)
    return error(Code::kInvalidArgument, "admin listen address '" + cfg.host + "' is not an IP");
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->ioc);
  tcp::endpoint ep(addr, cfg.port);
  impl->acceptor->open(ep.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(ep, ec);
  if (!ec) impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return error(Code::kUnavailable, "admin API cannot listen on " + where + ": " + ec.message());
  impl->port = impl->acceptor->local_endpoint().port();
  impl->accept();
  impl->thread = std::thread([im = impl.get()] {
    name_this_thread("tandem-admin");
    im->ioc.run();
  });
  impl->resolver = std::thread([im = impl.get()] {
    name_this_thread("tandem-resolve");
    im->resolve_loop();
  });
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() {
  stop();
}

uint16_t AdminServer::port() const {
  return impl_->port;
}

void AdminServer::stop() {
  if (!impl_->thread.joinable()) return;
  {
    MutexLock g(impl_->resolver_mu);
    impl_->stopping = true;
  }
  impl_->resolver_cv.notify_all();
  impl_->resolver.join();
  net::post(impl_->ioc, [im = impl_.get()] {
    error_code ec;
    im->acceptor->close(ec);
  });
  impl_->ioc.stop();
  impl_->thread.join();
  impl_->acceptor.reset();
}

}  // namespace tandem::proxy
