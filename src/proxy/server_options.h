// Options for the capture proxy's server half (listener, limits, timeouts,
// upstream pool, drain). Plain data without Asio so that config parsing and
// its unit tests stay free of networking headers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem::proxy {

struct ListenerTls {
  std::string cert_file;  // PEM chain; empty = plain HTTP listener
  std::string key_file;   // PEM private key
  bool enabled() const { return !cert_file.empty(); }
};

struct ServerOptions {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 9200;  // 0 = any free port (tests)
  int workers = 0;              // 0 = std::thread::hardware_concurrency()

  // Front-door limits. Defaults follow Elasticsearch's own http.* settings
  // so a request the primary would accept is never refused here:
  // http.max_content_length 100mb, http.max_initial_line_length 4kb,
  // http.max_header_size 16kb (8.x).
  uint64_t max_body_bytes = 100ull << 20;
  uint32_t max_initial_line_bytes = 4u << 10;
  uint32_t max_header_bytes = 16u << 10;
  // Responses larger than this from the primary become a 502 (they would
  // have to be buffered whole).
  uint64_t max_response_bytes = 1ull << 30;

  // Client side. idle: between keep-alive requests (no byte received yet);
  // header/body: from the first byte until the header / body is complete.
  // A client slower than that is disconnected (slowloris protection).
  std::chrono::milliseconds client_idle_timeout{90'000};
  std::chrono::milliseconds client_header_timeout{30'000};
  std::chrono::milliseconds client_body_timeout{60'000};
  std::chrono::milliseconds client_write_timeout{60'000};

  // Upstream side.
  std::chrono::milliseconds upstream_connect_timeout{5'000};
  std::chrono::milliseconds upstream_response_timeout{60'000};
  size_t upstream_max_idle_per_worker = 64;
  // Pooled upstream connections idle longer than this are not reused.
  std::chrono::milliseconds upstream_max_idle_age{50'000};

  // SIGTERM: how long in-flight requests may take to finish.
  std::chrono::milliseconds drain_timeout{30'000};

  ListenerTls tls;
};

}  // namespace tandem::proxy
