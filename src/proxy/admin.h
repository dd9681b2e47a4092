// The proxy's admin API: its own listener, 127.0.0.1 by default.
//
//   GET  /status         JSON: roles, write gate, connections, capture status
//   GET  /metrics        Prometheus text format
//   POST /roles/switch   swap primary/secondary and bump the epoch, with
//                        writes held and drained (RoleTable::switch_roles).
//                        Optional ?timeout=5s bounds the drain wait.
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
#include "proxy/config.h"
#include "proxy/metrics.h"
#include "proxy/proxy.h"
#include "proxy/roles.h"
#include "proxy/server.h"

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
  LogFn log;
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
std::string admin_metrics_text(const RoleTable& roles, const WriteCapture& capture,
                               ProxyMetrics& metrics);

}  // namespace tandem::proxy
