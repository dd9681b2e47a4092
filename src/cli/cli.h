// The CLI: subcommands and the flags they share. This folder is the only
// place that wires components together (see docs/architecture.md).
#pragma once

#include <atomic>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/status.h"
#include "es/es.h"
#include "event/event.h"
#include "http/http.h"
#include "log/log.h"

namespace tandem::cli {

// How the CLI reaches a cluster: the one way, used by every subcommand.
// Secrets are never flags: they come from <env-prefix>_USERNAME/_PASSWORD
// (or _PASSWORD_FILE) and <env-prefix>_API_KEY (or _API_KEY_FILE); TLS
// files may come from <env-prefix>_CA_FILE/_CERT_FILE/_KEY_FILE, and the
// flags below win over them.
struct ClusterFlags {
  std::string url;
  std::string env_prefix = "TANDEM";
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure = false;
  int timeout_ms = 30000;

  // A command about one cluster: positional `name` URL, --auth-env,
  // --ca-file, --cert, --key, --insecure, --timeout-ms.
  void add_to(CLI::App& cmd, const std::string& name);
  // One side of a two-cluster command: --<side> URL, --<side>-auth-env
  // (default TANDEM_<SIDE>), --<side>-ca-file, --<side>-cert, --<side>-key,
  // --<side>-insecure. The timeout is the command's --timeout-ms.
  void add_side(CLI::App& cmd, const std::string& side, const std::string& what);
  Result<http::ClientOptions> client_options() const;
  // Connects and detects the version; errors name `label`.
  Result<std::unique_ptr<es::Client>> connect(const std::string& label) const;
};

// Blue and green, the same flags for every command that talks to both.
struct ClusterPair {
  std::unique_ptr<es::Client> blue;
  std::unique_ptr<es::Client> green;
};
struct BlueGreenFlags {
  ClusterFlags blue;
  ClusterFlags green;
  int timeout_ms = 60000;

  // --blue/--green and their TLS and auth flags, plus --timeout-ms.
  void add_to(CLI::App& cmd);
  // Errors name the flag (--blue / --green) and the cluster.
  Result<ClusterPair> connect() const;
};

// Which change log to use: the embedded file log (--log-dir) or Kafka
// (--kafka + --topic). librdkafka properties (security.protocol, sasl.*,
// ssl.*) come from a properties file (--kafka-config), never from argv,
// because some of them are secrets.
struct LogFlags {
  std::string dir;
  std::string brokers;
  std::string topic = "tandem-changes";
  std::string kafka_config;  // key=value lines
  int partitions = 8;
  // Set by the command itself (e.g. load's --instance-id), applied after
  // the --kafka-config file.
  std::map<std::string, std::string> properties;

  void add_to(CLI::App& cmd);
  bool configured() const { return !dir.empty() || !brokers.empty(); }
};

// Prints "error: <message>" on stderr and returns the exit code for it.
int fail(const Status& s);

// Opens the log the flags name for reading; errors name the directory or
// brokers. A file log is opened as a shared reader (log.h), so it works
// while `tandem proxy` holds it as the writer, and must already exist.
Result<std::unique_ptr<log::Log>> open_log(const LogFlags& flags);
// The Kafka options the flags name (properties read from --kafka-config).
Result<log::KafkaLogOptions> kafka_options(const LogFlags& flags);

// Installs SIGINT/SIGTERM handlers that raise the returned flag, for the
// long-running commands (backfill, load, workload traffic) to stop
// gracefully: finish or abandon in-flight work, commit, report. The flag is
// a lock-free atomic, so the handler is async-signal-safe. Defined in
// flags.cc.
const std::atomic<bool>& stop_on_signals();

// The cutover control channel (control.cc, docs/cutover.md): a
// one-partition Kafka topic "<topic>-control" on the change log's brokers
// (same security properties), or a file log "<dir>-control" next to the
// embedded log.
struct ControlChannel {
  std::optional<log::KafkaLogOptions> kafka;  // set: Kafka; else `dir`
  std::string dir;
  std::string describe() const;
};
ControlChannel control_channel_for(const log::KafkaLogOptions* kafka, const std::string& dir);
// Opens the channel for appending (a coordinator opens it before a flip
// holds writes, so the decision costs one durable append, not a connect).
Result<std::unique_ptr<log::Log>> open_control_writer(const ControlChannel& ch);
// Appends the decision and waits until it is durable (acks=all / fsync),
// through `writer` when given.
Status record_flip_decision(const ControlChannel& ch, const event::FlipDecision& d,
                            log::Log* writer = nullptr);
// The first decision recorded for `flip`, if any.
Result<std::optional<event::FlipDecision>> read_flip_decision(const ControlChannel& ch,
                                                              const std::string& flip);

void register_cluster(CLI::App& app);
void register_migrate(CLI::App& app);  // src/cli/migrate_cmd.cc
void register_load(CLI::App& app);
void register_backfill(CLI::App& app);
void register_dlq(CLI::App& app);
void register_log(CLI::App& app);
void register_workload(CLI::App& app);
void register_proxy(CLI::App& app);  // src/cli/proxy_cmd.cc
void register_meta(CLI::App& app);
void register_verify(CLI::App& app);

}  // namespace tandem::cli
