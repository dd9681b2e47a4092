// Prometheus metrics of the proxy's server half (prometheus-cpp core; the
// admin API serializes the registry with TextSerializer).
//
//   tandem_proxy_requests_total{class,status}        answered requests
//   tandem_proxy_added_latency_seconds               proxy time minus upstream
//                                                    time (parse, capture,
//                                                    queueing, write-out)
//   tandem_proxy_upstream_latency_seconds            connect+send+receive
//   tandem_proxy_write_stage_seconds{stage}          a forwarded write's added
//                                                    latency, split by stage
//                                                    (WriteStages below)
//   tandem_proxy_slow_writes_total{stage}            writes whose added latency
//                                                    passed kSlowWrite, by the
//                                                    stage that took longest
//   tandem_proxy_front_door_rejections_total{reason} 400/413/414/431 ...
//   tandem_proxy_upstream_errors_total{kind}         connect/timeout/reset
//   tandem_proxy_connections_open                    client connections
//   tandem_proxy_writes_in_flight / _writes_held     role gate
//
// The capture's metrics (tandem_proxy_capture_*) are not registered here:
// the admin API renders them from WriteCapture::status() at each scrape
// (capture_metrics_text in admin.h), next to this registry's text.
//
// Hot-path cost: counters are looked up once per (class, status) pair and
// cached per thread; increments are atomic, no lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace tandem::proxy {

// Where one forwarded write's added latency went, stamped by its session on
// the connection's worker thread (server_session.cc). A wait on another
// thread (the intents' sync thread, the log) ends when that thread calls
// back; the time from there until the worker runs the continuation is
// `hop` (the post back, plus any wait for the worker's CPU). Together with
// `other` (what the stamps do not cover) the stages sum to the added latency.
struct WriteStages {
  using ns = std::chrono::nanoseconds;
  ns admit{0};    // parsed request -> admitted by the role gate
  ns prepare{0};  // capture's begin on the worker: read the body, write intents
  ns intents{0};  // -> the intents' fdatasync covered them (sync thread)
  ns forward{0};  // upstream pool overhead: send call to answer, minus upstream
  ns events{0};   // capture's complete on the worker: build events, publish
  ns log{0};      // -> the log (or spill) acknowledged every event
  ns respond{0};  // writing the answer to the client
  ns hop{0};      // callbacks fired -> continuations ran on the worker
};

// A write whose added latency passes this counts in
// tandem_proxy_slow_writes_total under its longest stage: the p99 target.
inline constexpr std::chrono::milliseconds kSlowWrite{5};

class ProxyMetrics {
 public:
  ProxyMetrics();
  ProxyMetrics(const ProxyMetrics&) = delete;
  ProxyMetrics& operator=(const ProxyMetrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }

  // One answered request. `cls` is class_name() (or "rejected").
  void request(std::string_view cls, int status, std::chrono::nanoseconds added,
               std::chrono::nanoseconds upstream);
  // One forwarded write that was answered with the primary's answer.
  void write_stages(const WriteStages& s, std::chrono::nanoseconds added);
  void rejection(std::string_view reason);
  void upstream_error(std::string_view kind);
  void connection_opened() { connections_->Increment(); }
  void connection_closed() { connections_->Decrement(); }

  // Updated by the admin API right before a scrape.
  void set_gate(double in_flight, double held) {
    writes_in_flight_->Set(in_flight);
    writes_held_->Set(held);
  }

  // Text exposition format of everything registered.
  std::string serialize() const;

 private:
  prometheus::Counter& counter_for(std::string_view cls, int status);

  const uint64_t id_;  // distinguishes instances in the per-thread cache
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* rejections_;
  prometheus::Family<prometheus::Counter>* upstream_errors_;
  prometheus::Histogram* added_;
  prometheus::Histogram* upstream_;
  // Indexed like kStageNames in metrics.cc.
  std::array<prometheus::Histogram*, 9> stage_{};
  std::array<prometheus::Counter*, 9> slow_{};
  prometheus::Gauge* connections_;
  prometheus::Gauge* writes_in_flight_;
  prometheus::Gauge* writes_held_;
};

}  // namespace tandem::proxy
