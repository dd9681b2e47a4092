#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>

#include "cli/cli.h"

namespace tandem::cli {
namespace {
std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");
extern "C" void on_stop_signal(int) {
  g_stop_requested = true;
}
}  // namespace

const std::atomic<bool>& stop_on_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  return g_stop_requested;
}

void ClusterFlags::add_to(CLI::App& cmd, const std::string& name) {
  cmd.add_option(name, url, "Cluster URL, e.g. http://127.0.0.1:9200")->required();
  cmd.add_option("--auth-env", env_prefix,
                 "Prefix of the environment variables holding credentials: "
                 "<P>_USERNAME + <P>_PASSWORD(_FILE) or <P>_API_KEY(_FILE)")
      ->capture_default_str();
  cmd.add_option("--ca-file", ca_file, "PEM file of CAs to trust (default: system store)");
  cmd.add_option("--cert", cert_file, "Client certificate (PEM)");
  cmd.add_option("--key", key_file, "Client key (PEM)");
  cmd.add_flag("--insecure", insecure, "Do not verify the server's TLS certificate");
  cmd.add_option("--timeout-ms", timeout_ms, "Request timeout")->capture_default_str();
}

Result<http::ClientOptions> ClusterFlags::client_options() const {
  http::ClientOptions o;
  TANDEM_ASSIGN_OR_RETURN(o.url, http::Url::parse(url));
  TANDEM_ASSIGN_OR_RETURN(o.credentials, http::Credentials::from_env(env_prefix));
  o.tls = http::TlsOptions::from_env(env_prefix);
  if (!ca_file.empty()) o.tls.ca_file = ca_file;
  if (!cert_file.empty()) o.tls.cert_file = cert_file;
  if (!key_file.empty()) o.tls.key_file = key_file;
  if (insecure) o.tls.insecure = true;
  o.request_timeout = std::chrono::milliseconds(timeout_ms);
  o.env_prefix = env_prefix;  // so advice names the variables actually read
  return o;
}

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  switch (s.code()) {
    case Code::kInvalidArgument: return 2;
    case Code::kUnavailable:
    case Code::kTimeout: return 3;
    case Code::kUnauthorized:
    case Code::kTls: return 4;
    default: return 1;
  }
}

}  // namespace tandem::cli
