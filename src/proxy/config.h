// Configuration of `tandem proxy`: YAML file + environment overrides.
//
// Precedence: built-in defaults < YAML file < TANDEM_PROXY_* environment
// variables < command-line flags (applied by the CLI). Every error names
// the key (e.g. "timeouts.client_header: '3x' is not a duration").
//
// Secrets never come from the YAML file or argv: the admin token comes
// from TANDEM_ADMIN_TOKEN / TANDEM_ADMIN_TOKEN_FILE / admin.token_file;
// upstream credentials from <env_prefix>_USERNAME/_PASSWORD(_FILE),
// _API_KEY(_FILE); secret Kafka properties (sasl.password, ssl.*password,
// sasl.oauthbearer.client.secret) must be written "env:VAR" or "file:PATH".
// See docs/proxy.md for the full schema.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/http.h"
#include "log/log.h"
#include "proxy/reads.h"
#include "proxy/server_options.h"
#include "proxy/write_capture.h"

namespace tandem::proxy {

struct EndpointConfig {
  std::string name;        // role-table name, e.g. "blue"
  std::string url;         // base URL; credentials in it are refused
  http::TlsOptions tls;    // CA / client cert / insecure for https URLs
  std::string env_prefix;  // e.g. TANDEM_BLUE: credentials + TLS env vars
};

// The proxy's Kafka producer defaults. Sync capture holds each client's
// answer until Kafka acknowledged its events, so a producer linger is added
// to every write. linger.ms 0 (the log's default is 5 ms; the proxy used
// 1) took one client's 100-document _bulk p50 from 8.2 to 6.6 ms and 8
// clients from 242 to 278 bulks/s (bench/proxy/write.sh,
// docs/benchmarks.md): concurrent requests still share batches while
// earlier ones are in flight. log.kafka.properties.linger.ms wins.
// socket.nagle.disable: librdkafka leaves Nagle on by default, so a small
// ProduceRequest sent while an earlier one is unacknowledged can wait for
// the broker's ACK; Kafka's Java client always sets TCP_NODELAY.
inline log::KafkaLogOptions proxy_kafka_defaults() {
  log::KafkaLogOptions o;
  o.properties["linger.ms"] = "0";
  o.properties["socket.nagle.disable"] = "true";
  return o;
}

struct LogConfig {
  enum class Backend { kFile, kKafka };
  Backend backend = Backend::kFile;
  log::FileLogOptions file;                             // file.dir required for kFile
  log::KafkaLogOptions kafka = proxy_kafka_defaults();  // brokers + topic required for kKafka
};

struct AdminConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 9290;  // 0 = any free port (tests)
  http::Secret token;    // required when host is not loopback
};

struct ProxyConfig {
  ServerOptions server;
  EndpointConfig primary{"blue", "", {}, "TANDEM_BLUE"};
  EndpointConfig secondary{"green", "", {}, "TANDEM_GREEN"};  // url may be empty: no switch
  LogConfig log;
  CaptureOptions capture;  // capture.epoch is the starting epoch
  AdminConfig admin;
  // SQLite state store (state.h) for "index needs verification" marks.
  std::string state_path;
  std::chrono::milliseconds switch_drain_timeout{5000};
  size_t max_held_writes = 10'000;
  // reads.capture / reads.shadow (reads.h; both off by default). An empty
  // capture file means "next to the log": <log.dir>-reads.jsonl.
  ReadCaptureOptions read_capture;
  ShadowOptions shadow;
};

// "0.01", "1", "0": a sampling rate in [0, 1].
Result<double> parse_rate(std::string_view text);

// Looks up an environment variable (injectable for tests).
using EnvFn = std::function<std::optional<std::string>(const std::string& name)>;
EnvFn process_env();

// Parses YAML text over the defaults, then applies environment overrides.
// Does not validate: the CLI applies its flags first, then validate().
// `source` names the file in errors.
Result<ProxyConfig> parse_config(std::string_view yaml, std::string_view source, const EnvFn& env);
// Reads `path` (empty: defaults + environment only) and parses it.
Result<ProxyConfig> load_config(const std::string& path, const EnvFn& env);

// Checks required keys and cross-field rules; errors name the key.
Status validate(const ProxyConfig& cfg);

// Helpers shared with the CLI flags. "100mb", "16kb", "512" (bytes).
Result<uint64_t> parse_size(std::string_view text);
// "500ms", "30s", "2m", "1h", "250" (milliseconds).
Result<std::chrono::milliseconds> parse_duration(std::string_view text);
// "host:port", "[::1]:port", ":port" (all interfaces).
Status parse_listen(std::string_view text, std::string* host, uint16_t* port);

}  // namespace tandem::proxy
