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

void ClusterFlags::add_side(CLI::App& cmd, const std::string& side, const std::string& what) {
  env_prefix = http::env_prefix_for(side);
  const std::string f = "--" + side;
  cmd.add_option(f, url, what + " URL (credentials: " + env_prefix + "_*)")->required();
  cmd.add_option(
         f + "-auth-env", env_prefix,
         "Prefix of the environment variables holding " + side + "'s credentials and TLS files")
      ->capture_default_str();
  cmd.add_option(f + "-ca-file", ca_file, "PEM file of CAs to trust for " + side);
  cmd.add_option(f + "-cert", cert_file, "Client certificate for " + side + " (PEM)");
  cmd.add_option(f + "-key", key_file, "Client key for " + side + " (PEM)");
  cmd.add_flag(f + "-insecure", insecure, "Do not verify " + side + "'s TLS certificate");
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

Result<std::unique_ptr<es::Client>> ClusterFlags::connect(const std::string& label) const {
  TANDEM_ASSIGN_OR_RETURN(auto o, client_options());
  return es::connect(label, o);
}

void BlueGreenFlags::add_to(CLI::App& cmd) {
  blue.add_side(cmd, "blue", "Primary (blue)");
  green.add_side(cmd, "green", "Secondary (green)");
  cmd.add_option("--timeout-ms", timeout_ms, "Request timeout")->capture_default_str();
}

Result<ClusterPair> BlueGreenFlags::connect() const {
  ClusterFlags b = blue, g = green;
  b.timeout_ms = g.timeout_ms = timeout_ms;
  // A bad URL or credential setting names the flag; a cluster that can't be
  // reached names the cluster.
  auto bo = b.client_options();
  if (!bo.is_ok()) return bo.status().context("--blue");
  auto go = g.client_options();
  if (!go.is_ok()) return go.status().context("--green");
  ClusterPair pair;
  TANDEM_ASSIGN_OR_RETURN(pair.blue, es::connect("blue", *bo));
  TANDEM_ASSIGN_OR_RETURN(pair.green, es::connect("green", *go));
  return pair;
}

int fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  switch (s.code()) {
    case Code::kInvalidArgument:
      return 2;
    case Code::kUnavailable:
    case Code::kTimeout:
      return 3;
    case Code::kUnauthorized:
    case Code::kTls:
      return 4;
    default:
      return 1;
  }
}

}  // namespace tandem::cli
