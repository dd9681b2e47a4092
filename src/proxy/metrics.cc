#include "proxy/metrics.h"

#include <prometheus/text_serializer.h>

#include <atomic>
#include <unordered_map>

namespace tandem::proxy {
namespace {

// Seconds; the interesting range for "added" latency is 20 us .. 10 ms.
// Steps of 0.25-0.5 ms up to 5 ms so that "added p99 <= 5 ms" (and how far
// below it) can be read off the histogram, not just "somewhere in 2.5-5 ms".
const prometheus::Histogram::BucketBoundaries kLatencyBuckets = {
    0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.00125, 0.0015, 0.00175,
    0.002,   0.0025,  0.003,  0.0035,  0.004,  0.0045,  0.005, 0.006,   0.0075, 0.01,
    0.015,   0.025,   0.05,   0.1,     0.25,   0.5,     1,     2.5,     5,      10};

std::atomic<uint64_t> g_next_id{1};

constexpr std::array<const char*, 9> kStageNames = {
    "admit", "prepare", "intents", "forward", "events", "log", "respond", "hop", "other"};

}  // namespace

ProxyMetrics::ProxyMetrics()
    : id_(g_next_id.fetch_add(1, std::memory_order_relaxed)),
      registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  requests_ = &prometheus::BuildCounter()
                   .Name("tandem_proxy_requests_total")
                   .Help("Requests answered, by request class and HTTP status")
                   .Register(r);
  rejections_ = &prometheus::BuildCounter()
                     .Name("tandem_proxy_front_door_rejections_total")
                     .Help("Requests refused before forwarding, by reason")
                     .Register(r);
  upstream_errors_ = &prometheus::BuildCounter()
                          .Name("tandem_proxy_upstream_errors_total")
                          .Help("Failed exchanges with the primary, by kind")
                          .Register(r);
  added_ = &prometheus::BuildHistogram()
                .Name("tandem_proxy_added_latency_seconds")
                .Help("Proxy time minus upstream time per request")
                .Register(r)
                .Add({}, kLatencyBuckets);
  upstream_ = &prometheus::BuildHistogram()
                   .Name("tandem_proxy_upstream_latency_seconds")
                   .Help("Time spent with the primary per request")
                   .Register(r)
                   .Add({}, kLatencyBuckets);
  auto& stages = prometheus::BuildHistogram()
                     .Name("tandem_proxy_write_stage_seconds")
                     .Help("A forwarded write's added latency, by stage")
                     .Register(r);
  auto& slow = prometheus::BuildCounter()
                   .Name("tandem_proxy_slow_writes_total")
                   .Help("Writes whose added latency passed 5 ms, by their longest stage")
                   .Register(r);
  for (size_t i = 0; i < kStageNames.size(); ++i) {
    stage_[i] = &stages.Add({{"stage", kStageNames[i]}}, kLatencyBuckets);
    slow_[i] = &slow.Add({{"stage", kStageNames[i]}});
  }
  auto gauge = [&r](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  connections_ = gauge("tandem_proxy_connections_open", "Open client connections");
  writes_in_flight_ =
      gauge("tandem_proxy_writes_in_flight", "Writes between admission and durable");
  writes_held_ = gauge("tandem_proxy_writes_held", "Writes held by a running role switch");
}

prometheus::Counter& ProxyMetrics::counter_for(std::string_view cls, int status) {
  // Per-thread cache: Family::Add hashes labels under a mutex.
  thread_local std::unordered_map<std::string, prometheus::Counter*> cache;
  thread_local uint64_t owner = 0;
  if (owner != id_) {  // tests create several instances on one thread
    cache.clear();
    owner = id_;
  }
  std::string key;
  key.reserve(cls.size() + 4);
  key.append(cls).push_back('|');
  key.append(std::to_string(status));
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto& c = requests_->Add({{"class", std::string(cls)}, {"status", std::to_string(status)}});
  cache.emplace(std::move(key), &c);
  return c;
}

void ProxyMetrics::request(std::string_view cls, int status, std::chrono::nanoseconds added,
                           std::chrono::nanoseconds upstream) {
  counter_for(cls, status).Increment();
  added_->Observe(std::chrono::duration<double>(added).count());
  if (upstream.count() > 0) upstream_->Observe(std::chrono::duration<double>(upstream).count());
}

void ProxyMetrics::write_stages(const WriteStages& s, std::chrono::nanoseconds added) {
  const std::array<std::chrono::nanoseconds, 8> known = {s.admit,  s.prepare, s.intents, s.forward,
                                                         s.events, s.log,     s.respond, s.hop};
  std::chrono::nanoseconds other = added;
  size_t longest = 0;
  std::chrono::nanoseconds longest_ns{-1};
  for (size_t i = 0; i < known.size(); ++i) {
    other -= known[i];
    stage_[i]->Observe(std::chrono::duration<double>(known[i]).count());
    if (known[i] > longest_ns) {
      longest_ns = known[i];
      longest = i;
    }
  }
  // Clock reads on two threads can disagree by a little; never negative.
  if (other.count() < 0) other = {};
  stage_[known.size()]->Observe(std::chrono::duration<double>(other).count());
  if (other > longest_ns) longest = known.size();
  if (added > kSlowWrite) slow_[longest]->Increment();
}

void ProxyMetrics::rejection(std::string_view reason) {
  rejections_->Add({{"reason", std::string(reason)}}).Increment();
}

void ProxyMetrics::upstream_error(std::string_view kind) {
  upstream_errors_->Add({{"kind", std::string(kind)}}).Increment();
}

std::string ProxyMetrics::serialize() const {
  prometheus::TextSerializer s;
  return s.Serialize(registry_->Collect());
}

}  // namespace tandem::proxy
