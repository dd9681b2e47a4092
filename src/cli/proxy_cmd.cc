// `tandem proxy`: the capture proxy in front of the primary.
//
//   tandem proxy --config proxy.yaml [--listen H:P] [--primary URL]
//                [--secondary URL] [--log-dir DIR | --kafka BROKERS --topic T]
//                [--state FILE] [--admin H:P] [--workers N]
//
// Wiring (this folder is the only place components meet): config -> log
// (file or Kafka) -> state store (needs-verify marks) -> capture -> role
// table -> server + admin API. Runs until SIGTERM/SIGINT, then drains
// (bounded by timeouts.drain) and flushes the log.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "cli/cli.h"
#include "log/log.h"
#include "proxy/proxy.h"
#include "state/state.h"
#include "verify/verify.h"

namespace tandem::cli {
namespace {

struct ProxyArgs {
  std::string config;
  std::string listen, primary, secondary, log_dir, kafka, topic, state, admin, data_dir;
  std::string capture_reads, read_capture_file, shadow_reads;
  int workers = -1;
};

// Shadow answers are compared with the one normalizer `tandem compare`
// uses (src/verify); the proxy only sees this interface, so it does not
// depend on verify.
class CompareJudge : public proxy::ShadowJudge {
 public:
  std::string shape(std::string_view method, std::string_view target,
                    std::string_view body) const override {
    verify::Query q;
    q.method = std::string(method);
    q.path = std::string(target);
    q.body = std::string(body);
    return verify::query_shape(q);
  }
  proxy::ShadowVerdict judge(int primary_status, std::string_view primary_body,
                             int secondary_status, std::string_view secondary_body) const override {
    const auto a = verify::normalize_answer(primary_status, primary_body);
    const auto b = verify::normalize_answer(secondary_status, secondary_body);
    proxy::ShadowVerdict v;
    for (auto& [path, line] : verify::answer_diff(a, b, verify::CompareOptions{}.tolerance)) {
      v.diff.push_back(std::move(line));
    }
    v.match = v.diff.empty();
    return v;
  }
};

// Needs-verify marks go to the SQLite state store.
class StoreMarks : public proxy::VerificationMarks {
 public:
  explicit StoreMarks(state::Store* s) : store_(s) {}
  Status mark(const IndexName& index, std::string_view reason) override {
    return store_->mark_needs_verify(index, reason);
  }

 private:
  state::Store* store_;
};

Status apply_flags(const ProxyArgs& a, proxy::ProxyConfig* cfg) {
  if (!a.listen.empty()) {
    TANDEM_RETURN_IF_ERROR(
        proxy::parse_listen(a.listen, &cfg->server.listen_host, &cfg->server.listen_port)
            .context("--listen"));
  }
  if (!a.admin.empty()) {
    TANDEM_RETURN_IF_ERROR(
        proxy::parse_listen(a.admin, &cfg->admin.host, &cfg->admin.port).context("--admin"));
  }
  if (!a.primary.empty()) cfg->primary.url = a.primary;
  if (!a.secondary.empty()) cfg->secondary.url = a.secondary;
  if (!a.log_dir.empty()) {
    cfg->log.backend = proxy::LogConfig::Backend::kFile;
    cfg->log.file.dir = a.log_dir;
  }
  if (!a.kafka.empty()) {
    cfg->log.backend = proxy::LogConfig::Backend::kKafka;
    cfg->log.kafka.brokers = a.kafka;
  }
  if (!a.topic.empty()) cfg->log.kafka.topic = a.topic;
  if (!a.state.empty()) cfg->state_path = a.state;
  // --data-dir fills in whatever local paths the config left empty, so one
  // flag is enough to run a proxy with durable spill, intents and state.
  if (!a.data_dir.empty()) {
    if (cfg->capture.spill_dir.empty()) cfg->capture.spill_dir = a.data_dir + "/spill";
    if (cfg->capture.intents_dir.empty()) cfg->capture.intents_dir = a.data_dir + "/intents";
    if (cfg->state_path.empty()) cfg->state_path = a.data_dir + "/state.db";
    // The file log too, so `tandem load --log-dir DATA_DIR/log` can read it
    // next to the running proxy.
    if (cfg->log.backend == proxy::LogConfig::Backend::kFile && cfg->log.file.dir.empty())
      cfg->log.file.dir = a.data_dir + "/log";
  }
  if (a.workers >= 0) cfg->server.workers = a.workers;
  if (!a.capture_reads.empty()) {
    auto r = proxy::parse_rate(a.capture_reads);
    if (!r.is_ok()) return r.status().context("--capture-reads");
    cfg->read_capture.rate = r.value();
  }
  if (!a.read_capture_file.empty()) cfg->read_capture.file = a.read_capture_file;
  if (!a.shadow_reads.empty()) {
    auto r = proxy::parse_rate(a.shadow_reads);
    if (!r.is_ok()) return r.status().context("--shadow-reads");
    cfg->shadow.rate = r.value();
  }
  // "Next to the log": the file log's directory name with -reads.jsonl.
  if (cfg->read_capture.file.empty() && cfg->log.backend == proxy::LogConfig::Backend::kFile &&
      !cfg->log.file.dir.empty()) {
    std::string dir = cfg->log.file.dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    cfg->read_capture.file = dir + "-reads.jsonl";
  }
  return proxy::validate(*cfg);
}

Result<std::unique_ptr<log::Log>> open_configured_log(const proxy::LogConfig& lc) {
  if (lc.backend == proxy::LogConfig::Backend::kKafka) {
    return log::open_kafka_log(lc.kafka);
  }
  return log::open_file_log(lc.file);
}

int run_proxy(const ProxyArgs& args) {
  auto loaded = proxy::load_config(args.config, proxy::process_env());
  if (!loaded.is_ok()) return fail(loaded.status());
  proxy::ProxyConfig cfg = std::move(loaded).value();
  if (Status st = apply_flags(args, &cfg); !st.is_ok()) return fail(st);

  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and sigwait() below is the only receiver.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = open_configured_log(cfg.log);
  if (!log.is_ok()) return fail(log.status().context("proxy change log"));
  auto store = state::open_store(cfg.state_path);
  if (!store.is_ok()) return fail(store.status().context("proxy state store"));
  StoreMarks marks(store.value().get());
  auto capture = proxy::make_capture(cfg.capture, log.value().get(), &marks);
  if (!capture.is_ok()) return fail(capture.status().context("capture"));

  proxy::ServerDeps deps;
  for (const auto* ep : {&cfg.primary, &cfg.secondary}) {
    if (ep->url.empty()) continue;
    auto t = proxy::UpstreamTarget::make({ep->name, ep->url}, ep->tls, ep->env_prefix);
    if (!t.is_ok()) return fail(t.status());
    deps.upstreams[ep->name] = t.value();
  }
  const bool has_secondary = !cfg.secondary.url.empty();
  // Without a secondary the role table still names one; the admin API
  // refuses to switch to it, so requests never go there.
  if (!has_secondary) deps.upstreams[cfg.secondary.name] = deps.upstreams[cfg.primary.name];

  proxy::RoleTable roles({cfg.primary.name, cfg.primary.url},
                         {cfg.secondary.name, cfg.secondary.url}, cfg.capture.epoch,
                         cfg.max_held_writes);
  proxy::ProxyMetrics metrics;
  proxy::WriteCapture* cap = capture.value().get();
  auto logger = [](std::string_view level, std::string_view msg) {
    if (level == "error") {
      spdlog::error("{}", msg);
    } else if (level == "warn") {
      spdlog::warn("{}", msg);
    } else {
      spdlog::info("{}", msg);
    }
  };
  deps.roles = &roles;
  deps.capture = cap;
  deps.metrics = &metrics;
  deps.classify = [](std::string_view m, std::string_view t) { return proxy::classify(m, t); };
  deps.log = logger;

  // Read capture and shadow reads (both off unless a rate is set).
  CompareJudge judge;  // outlives the shadow's threads
  std::unique_ptr<proxy::ReadCaptureStore> read_store;
  std::unique_ptr<proxy::ShadowReads> shadow;
  if (cfg.read_capture.rate > 0) {
    cfg.read_capture.log = logger;
    auto rs = proxy::ReadCaptureStore::open(cfg.read_capture, log.value().get());
    if (!rs.is_ok()) return fail(rs.status());
    read_store = std::move(rs).value();
  }
  if (cfg.shadow.rate > 0) {
    auto sr = proxy::ShadowReads::start(cfg.shadow, cfg.secondary.url, cfg.secondary.tls,
                                        cfg.secondary.env_prefix, &judge);
    if (!sr.is_ok()) return fail(sr.status().context("shadow reads"));
    shadow = std::move(sr).value();
  }
  proxy::ReadTap tap(read_store.get(), shadow.get(), cfg.primary.name);
  if (tap.active()) deps.reads = &tap;
  auto server = proxy::Server::start(cfg.server, std::move(deps));
  if (!server.is_ok()) return fail(server.status());

  proxy::AdminDeps ad;
  ad.roles = &roles;
  ad.capture = cap;
  ad.metrics = &metrics;
  ad.server = server.value().get();
  ad.switch_drain_timeout = cfg.switch_drain_timeout;
  ad.secondary_configured = has_secondary;
  ad.log = logger;
  if (tap.active()) ad.reads = &tap;
  ad.on_switch = [cap, &log](const proxy::RoleSnapshot& next) -> Status {
    // Nothing is in flight: make every event so far durable, then let
    // later events carry the new epoch.
    TANDEM_RETURN_IF_ERROR(
        log.value()->flush(std::chrono::seconds(10)).context("flush before switch"));
    return cap->set_epoch(next.epoch);
  };
  // The fenced flip (docs/cutover.md): prepare makes the drained writes'
  // events durable; a proxy past its hold bound reads the decision from
  // the control channel next to its log.
  ad.on_prepare = [&log]() -> Status {
    return log.value()->flush(std::chrono::seconds(10)).context("flush at flip prepare");
  };
  const ControlChannel control = cfg.log.backend == proxy::LogConfig::Backend::kKafka
                                     ? control_channel_for(&cfg.log.kafka, "")
                                     : control_channel_for(nullptr, cfg.log.file.dir);
  ad.read_decision = [control](const std::string& flip) {
    return read_flip_decision(control, flip);
  };
  auto admin = proxy::AdminServer::start(cfg.admin, std::move(ad));
  if (!admin.is_ok()) return fail(admin.status());

  spdlog::info("tandem proxy on {}:{} -> primary {} ({}), admin on {}:{}, log {}",
               cfg.server.listen_host, server.value()->port(), cfg.primary.name, cfg.primary.url,
               cfg.admin.host, admin.value()->port(), log.value()->describe());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: draining (at most {} ms)", sig, cfg.server.drain_timeout.count());
  const size_t cut = server.value()->drain(cfg.server.drain_timeout);
  admin.value()->stop();
  if (cut > 0) spdlog::warn("{} connection(s) cut at the drain deadline", cut);
  Status fl = log.value()->flush(std::chrono::seconds(10));
  if (!fl.is_ok()) return fail(fl.context("final log flush"));
  server.value().reset();
  return 0;
}

}  // namespace

void register_proxy(CLI::App& app) {
  auto args = std::make_shared<ProxyArgs>();
  CLI::App* cmd = app.add_subcommand("proxy", "Run the capture proxy in front of the primary");
  cmd->add_option("--config", args->config, "YAML config file (see docs/proxy.md)");
  cmd->add_option("--listen", args->listen, "Client listener host:port (TANDEM_PROXY_LISTEN)");
  cmd->add_option("--primary", args->primary, "Primary base URL (TANDEM_PROXY_PRIMARY_URL)");
  cmd->add_option("--secondary", args->secondary,
                  "Secondary base URL (TANDEM_PROXY_SECONDARY_URL)");
  cmd->add_option("--log-dir", args->log_dir, "Embedded file log directory (TANDEM_PROXY_LOG_DIR)");
  cmd->add_option("--kafka", args->kafka, "Kafka bootstrap servers (TANDEM_PROXY_KAFKA_BROKERS)");
  cmd->add_option("--topic", args->topic, "Kafka topic (TANDEM_PROXY_KAFKA_TOPIC)");
  cmd->add_option("--state", args->state, "SQLite state file (TANDEM_PROXY_STATE)");
  cmd->add_option("--data-dir", args->data_dir,
                  "Directory for the spill journal, intents, state and the file log (DIR/log) "
                  "when not configured");
  cmd->add_option("--admin", args->admin, "Admin API host:port (TANDEM_PROXY_ADMIN_LISTEN)");
  cmd->add_option("--workers", args->workers, "Worker threads, 0 = cores (TANDEM_PROXY_WORKERS)");
  cmd->add_option("--capture-reads", args->capture_reads,
                  "Fraction of reads to capture for `tandem compare --captured` (0..1, "
                  "reads.capture.rate; default 0 = off)");
  cmd->add_option("--read-capture-file", args->read_capture_file,
                  "Read-capture store (reads.capture.file; default <log dir>-reads.jsonl)");
  cmd->add_option("--shadow-reads", args->shadow_reads,
                  "Fraction of reads to mirror to the secondary and compare (0..1, "
                  "reads.shadow.rate; default 0 = off)");
  cmd->callback([args] {
    const int rc = run_proxy(*args);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
