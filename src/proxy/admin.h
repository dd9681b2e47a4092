// The proxy's admin API: its own listener, 127.0.0.1 by default.
//
//   GET  /status         JSON: roles, write gate, connections, capture status
//                        (WriteCapture::status(), rendered here)
//   GET  /metrics        Prometheus text format
//   POST /roles/switch   swap primary/secondary and bump the epoch, with
//                        writes held and drained (RoleTable::switch_roles).
//                        Optional ?timeout=5s bounds the drain wait.
//   POST /flip/prepare?id=F&drain=5s&hold=10s
//   POST /flip/commit?id=F&epoch=N
//   POST /flip/abort?id=F
//   GET  /flip           the fenced flip's steps on this proxy
//                        (RoleTable::prepare_flip/commit_flip/abort_flip,
//                        docs/cutover.md)
//
// Auth: when a token is configured every request needs
// "Authorization: Bearer <token>" (compared in constant time); config
// validation refuses a non-loopback admin listener without a token. The
// header's value is never logged or echoed.
//
// One thread, one request per connection (Connection: close): this is an
// operator API, not a data path.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "core/status.h"
#include "event/event.h"
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/reads.h"
#include "proxy/roles.h"
#include "proxy/server.h"
#include "proxy/write_capture.h"

namespace tandem::proxy {

struct AdminDeps {
  RoleTable* roles = nullptr;       // required
  WriteCapture* capture = nullptr;  // required
  ProxyMetrics* metrics = nullptr;  // required
  const Server* server = nullptr;   // optional: connection counters
  // Runs during a switch with writes held and none in flight; an error
  // aborts the switch (e.g. capture cannot take the new epoch).
  RoleTable::SwitchHook on_switch;
  std::chrono::milliseconds switch_drain_timeout{5000};
  bool secondary_configured = true;  // false: /roles/switch is refused
  // Runs after a flip's prepare drained the in-flight writes: makes their
  // events durable (flush the log) before the proxy says "prepared".
  std::function<Status()> on_prepare;
  // Reads the recorded decision of a flip from the control channel (empty
  // optional: none recorded yet). A proxy whose prepared flip is past its
  // hold bound without a commit/abort from the coordinator asks this
  // every `decision_poll` and applies what it finds; unset, it just holds.
  std::function<Result<std::optional<event::FlipDecision>>(const std::string& flip)> read_decision;
  std::chrono::milliseconds decision_poll{1000};
  LogFn log;
  // Read capture / shadow reads: "reads" in /status, their metrics
  // appended to /metrics. Optional.
  const ReadTap* reads = nullptr;
};

class AdminServer {
 public:
  static Result<std::unique_ptr<AdminServer>> start(const AdminConfig& cfg, AdminDeps deps);
  ~AdminServer();
  uint16_t port() const;
  void stop();

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The bodies the admin API serves (exposed for tests and the CLI).
std::string admin_status_json(const RoleTable& roles, const WriteCapture& capture,
                              const Server* server);
// The registry's text followed by capture_metrics_text(capture.status()).
std::string admin_metrics_text(const RoleTable& roles, const WriteCapture& capture,
                               ProxyMetrics& metrics);
// The tandem_proxy_capture_* metrics: every numeric and boolean field of
// CaptureStatus (docs/proxy.md names each), the mode and policy as labels
// of tandem_proxy_capture_info, and the epoch.
std::string capture_metrics_text(const CaptureStatus& status);
// The read side: /status's "reads" object ({"capture":{...}|null,
// "shadow":{...}|null}) and the tandem_proxy_read_capture_* and
// tandem_proxy_shadow_* metrics appended to /metrics (docs/proxy.md).
std::string reads_status_json(const ReadsStatus& status);
std::string reads_metrics_text(const ReadsStatus& status);

}  // namespace tandem::proxy
