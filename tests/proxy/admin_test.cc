// The admin API's documents (no sockets): /status and /metrics bodies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "proxy/admin.h"

namespace tandem::proxy {
namespace {

class StubCapture : public WriteCapture {
 public:
  CaptureStatus st = [] {
    CaptureStatus s;
    s.events_emitted = 42;
    s.spill_depth = 3;
    s.fail_closed = true;
    return s;
  }();
  void begin_async(const RequestView&, const Classification&, BeginCallback done) override {
    done({});
  }
  void complete(Ticket, UpstreamAnswer, CompleteCallback done) override { done(""); }
  void abandon(Ticket) override {}
  CaptureStatus status() const override { return st; }
};

TEST(AdminTest, StatusJsonHasRolesGateAndCapture) {
  RoleTable roles(Endpoint{"blue", "http://b:9200"}, Endpoint{"green", "http://g:9200"}, Epoch(1));
  StubCapture cap;
  auto j = nlohmann::json::parse(admin_status_json(roles, cap, nullptr));
  EXPECT_EQ(j["roles"]["primary"]["name"], "blue");
  EXPECT_EQ(j["roles"]["secondary"]["url"], "http://g:9200");
  EXPECT_EQ(j["roles"]["epoch"], 1);
  EXPECT_EQ(j["gate"]["writes_in_flight"], 0);
  EXPECT_EQ(j["capture"]["events_emitted"], 42);
  EXPECT_EQ(j["capture"]["mode"], "sync");
  EXPECT_EQ(j["fail_closed"], true);
}

// Every field of CaptureStatus, each with its own value, reaches /status
// under the key its readers use (tandem migrate, the e2e and real-client
// tests, docs/proxy.md) and /metrics under its metric.
TEST(AdminTest, EveryCaptureFieldReachesStatusAndMetrics) {
  RoleTable roles(Endpoint{"blue", "http://b:9200"}, Endpoint{"green", "http://g:9200"}, Epoch(0));
  StubCapture cap;
  CaptureStatus& s = cap.st;
  s.durability = Durability::kAsync;
  s.epoch = Epoch(7);
  s.multi_doc = MultiDocPolicy::kAllow;
  s.events_emitted = 101;
  s.events_logged = 102;
  s.spill_depth = 103;
  s.spilled_total = 104;
  s.drained_total = 105;
  s.spill_reclaimed_total = 106;
  s.stranded = 107;
  s.refused_total = 108;
  s.dead_letters = 109;
  s.spill_open = true;
  s.fail_closed = false;
  s.async_window = 110;
  s.intents_open = 111;
  s.requests_open = 112;
  s.recovered_reconciles = 113;
  s.abandoned_total = 114;
  s.rejected_multi_doc = 115;
  s.rejected_unavailable = 116;
  s.last_error = "kafka: broker down";
  s.marks_failed = 117;
  s.last_mark_error = "state store locked";

  const auto j = nlohmann::json::parse(admin_status_json(roles, cap, nullptr));
  const auto& c = j["capture"];
  const std::vector<std::pair<const char*, int64_t>> numbers = {{"events_emitted", 101},
                                                                {"events_logged", 102},
                                                                {"spill_depth", 103},
                                                                {"spilled_total", 104},
                                                                {"drained_total", 105},
                                                                {"spill_reclaimed_total", 106},
                                                                {"stranded", 107},
                                                                {"refused_total", 108},
                                                                {"dead_letters", 109},
                                                                {"async_window", 110},
                                                                {"intents_open", 111},
                                                                {"requests_open", 112},
                                                                {"recovered_reconciles", 113},
                                                                {"abandoned_total", 114},
                                                                {"rejected_multi_doc", 115},
                                                                {"rejected_unavailable", 116},
                                                                {"marks_failed", 117},
                                                                {"epoch", 7}};
  for (const auto& [key, want] : numbers) EXPECT_EQ(c.value(key, int64_t{-99}), want) << key;
  EXPECT_EQ(c["mode"], "async");
  EXPECT_EQ(c["multi_doc_policy"], "allow");
  EXPECT_EQ(c["spill_open"], true);
  EXPECT_EQ(c["fail_closed"], false);
  EXPECT_EQ(j["fail_closed"], false);
  EXPECT_EQ(c["last_error"], "kafka: broker down");
  EXPECT_EQ(c["last_mark_error"], "state store locked");
  EXPECT_EQ(c.size(), numbers.size() + 6) << c.dump();  // no key the test does not know

  ProxyMetrics m;
  const std::string text = admin_metrics_text(roles, cap, m);
  for (const char* line : {
           "tandem_proxy_capture_info{mode=\"async\",multi_doc_policy=\"allow\"} 1\n",
           "tandem_proxy_capture_epoch 7\n",
           "tandem_proxy_capture_events_emitted 101\n",
           "tandem_proxy_capture_events_logged_total 102\n",
           "tandem_proxy_capture_spill_depth 103\n",
           "tandem_proxy_capture_spilled_total 104\n",
           "tandem_proxy_capture_drained_total 105\n",
           "tandem_proxy_capture_spill_reclaimed_total 106\n",
           "tandem_proxy_capture_stranded 107\n",
           "tandem_proxy_capture_refused_events 108\n",
           "tandem_proxy_capture_dead_letters 109\n",
           "tandem_proxy_capture_spill_open 1\n",
           "tandem_proxy_capture_fail_closed 0\n",
           "tandem_proxy_capture_async_window 110\n",
           "tandem_proxy_capture_intents_open 111\n",
           "tandem_proxy_capture_requests_open 112\n",
           "tandem_proxy_capture_recovered_reconciles 113\n",
           "tandem_proxy_capture_abandoned_total 114\n",
           "tandem_proxy_capture_rejected_multi_doc_total 115\n",
           "tandem_proxy_capture_rejected_unavailable_total 116\n",
           "tandem_proxy_capture_marks_failed_total 117\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  // A spill depth not measured yet stays -1 in both.
  s.spill_depth = -1;
  EXPECT_NE(admin_metrics_text(roles, cap, m).find("tandem_proxy_capture_spill_depth -1\n"),
            std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(admin_status_json(roles, cap, nullptr))["capture"]["spill_depth"],
            -1);
}

TEST(AdminTest, MetricsTextExposesCaptureAndGateGauges) {
  RoleTable roles(Endpoint{"blue", "http://b:9200"}, Endpoint{"green", "http://g:9200"}, Epoch(0));
  StubCapture cap;
  ProxyMetrics m;
  m.request("read", 200, std::chrono::microseconds(150), std::chrono::milliseconds(2));
  m.request("doc_write", 201, std::chrono::microseconds(300), std::chrono::milliseconds(3));
  m.rejection("body_too_large");
  const std::string text = admin_metrics_text(roles, cap, m);
  EXPECT_NE(text.find("tandem_proxy_requests_total{class=\"read\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("tandem_proxy_capture_events_emitted 42"), std::string::npos);
  EXPECT_NE(text.find("tandem_proxy_capture_spill_depth 3"), std::string::npos);
  EXPECT_NE(text.find("tandem_proxy_capture_fail_closed 1"), std::string::npos);
  EXPECT_NE(text.find("tandem_proxy_front_door_rejections_total{reason=\"body_too_large\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("tandem_proxy_added_latency_seconds_count 2"), std::string::npos);
}

}  // namespace
}  // namespace tandem::proxy
