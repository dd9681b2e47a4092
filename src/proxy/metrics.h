// Prometheus metrics of the proxy's server half (prometheus-cpp core; the
// admin API serializes the registry with TextSerializer).
//
//   tandem_proxy_requests_total{class,status}        answered requests
//   tandem_proxy_added_latency_seconds               proxy time minus upstream
//                                                    time (parse, capture,
//                                                    queueing, write-out)
//   tandem_proxy_upstream_latency_seconds            connect+send+receive
//   tandem_proxy_front_door_rejections_total{reason} 400/413/414/431 ...
//   tandem_proxy_upstream_errors_total{kind}         connect/timeout/reset
//   tandem_proxy_connections_open                    client connections
//   tandem_proxy_writes_in_flight / _writes_held     role gate
//   tandem_proxy_capture_events_emitted /
//   tandem_proxy_capture_spill_depth /
//   tandem_proxy_capture_fail_closed (0/1) /
//   tandem_proxy_capture_refused_events (sent as reconciles) /
//   tandem_proxy_capture_dead_letters                from capture's status
//
// Hot-path cost: counters are looked up once per (class, status) pair and
// cached per thread; increments are atomic, no lock.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace tandem::proxy {

class ProxyMetrics {
 public:
  ProxyMetrics();
  ProxyMetrics(const ProxyMetrics&) = delete;
  ProxyMetrics& operator=(const ProxyMetrics&) = delete;

  prometheus::Registry& registry() { return *registry_; }

  // One answered request. `cls` is class_name() (or "rejected").
  void request(std::string_view cls, int status, std::chrono::nanoseconds added,
               std::chrono::nanoseconds upstream);
  void rejection(std::string_view reason);
  void upstream_error(std::string_view kind);
  void connection_opened() { connections_->Increment(); }
  void connection_closed() { connections_->Decrement(); }

  // Updated by the admin API right before a scrape.
  void set_gate(double in_flight, double held) {
    writes_in_flight_->Set(in_flight);
    writes_held_->Set(held);
  }
  struct CaptureGauges {
    double events_emitted = 0;
    double spill_depth = 0;
    double fail_closed = 0;
    double refused = 0;
    double dead_letters = 0;
  };
  void set_capture(const CaptureGauges& g) {
    events_emitted_->Set(g.events_emitted);
    spill_depth_->Set(g.spill_depth);
    fail_closed_->Set(g.fail_closed);
    refused_->Set(g.refused);
    dead_letters_->Set(g.dead_letters);
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
  prometheus::Gauge* connections_;
  prometheus::Gauge* writes_in_flight_;
  prometheus::Gauge* writes_held_;
  prometheus::Gauge* events_emitted_;
  prometheus::Gauge* spill_depth_;
  prometheus::Gauge* fail_closed_;
  prometheus::Gauge* refused_;
  prometheus::Gauge* dead_letters_;
};

}  // namespace tandem::proxy
