// The CLI: subcommands and the flags they share. This folder is the only
// place that wires components together (see docs/architecture.md).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "http/http.h"

namespace tandem::cli {

// Connection flags shared by every subcommand that talks to a cluster.
// Secrets are never flags: they come from <env-prefix>_USERNAME/_PASSWORD
// (or _PASSWORD_FILE) and <env-prefix>_API_KEY (or _API_KEY_FILE).
struct ClusterFlags {
  std::string url;
  std::string env_prefix = "TANDEM";
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure = false;
  int timeout_ms = 30000;

  void add_to(CLI::App& cmd, const std::string& name);
  Result<http::ClientOptions> client_options() const;
};

// Prints "error: <message>" on stderr and returns the exit code for it.
int fail(const Status& s);

void register_cluster(CLI::App& app);
void register_log(CLI::App& app);

}  // namespace tandem::cli
