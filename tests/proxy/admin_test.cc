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

// The read side renders from ReadsStatus alone: every key of /status's
// "reads" object and every metric docs/proxy.md lists, and null / nothing
// for a part that is not configured.
TEST(AdminTest, ReadsRenderFromTheTypedStatus) {
  EXPECT_EQ(reads_status_json(ReadsStatus{}), R"({"capture":null,"shadow":null})");
  EXPECT_EQ(reads_metrics_text(ReadsStatus{}), "");

  ReadCaptureStatus c;
  c.file = "/tmp/reads.jsonl";
  c.rate = 0.5;
  c.max_per_second = 50;
  c.written = 7;
  c.bytes = 900;
  c.max_bytes = 1000;
  c.full = true;
  c.dropped_queue_full = 1;
  c.dropped_store_full = 2;
  c.over_budget = 3;
  c.failed = 4;
  c.last_error = "is full";
  ShadowStatus s;
  s.rate = 0.25;
  s.max_per_second = 100;
  s.sent = 4;
  s.matched = 3;
  s.mismatched = 1;
  s.errors = 5;
  s.dropped_queue_full = 6;
  s.dropped_target_down = 7;
  s.over_budget = 8;
  s.last_error = "timeout";
  s.shapes["POST _search \"q\""] = {4, 3, 1, {"body.hits.total: 1 -> 0"}, "POST /i/_search"};
  const ReadsStatus rs{c, s};

  const auto j = nlohmann::json::parse(reads_status_json(rs));
  const auto& jc = j["capture"];
  EXPECT_EQ(jc.size(), 12u);
  EXPECT_EQ(jc["file"], "/tmp/reads.jsonl");
  EXPECT_EQ(jc["rate"], 0.5);
  EXPECT_EQ(jc["max_per_second"], 50);
  EXPECT_EQ(jc["written"], 7);
  EXPECT_EQ(jc["bytes"], 900);
  EXPECT_EQ(jc["max_bytes"], 1000);
  EXPECT_EQ(jc["full"], true);
  EXPECT_EQ(jc["dropped_queue_full"], 1);
  EXPECT_EQ(jc["dropped_store_full"], 2);
  EXPECT_EQ(jc["over_budget"], 3);
  EXPECT_EQ(jc["failed"], 4);
  EXPECT_EQ(jc["last_error"], "is full");
  const auto& js = j["shadow"];
  EXPECT_EQ(js.size(), 12u);
  EXPECT_EQ(js["rate"], 0.25);
  EXPECT_EQ(js["max_per_second"], 100);
  EXPECT_EQ(js["sent"], 4);
  EXPECT_EQ(js["matched"], 3);
  EXPECT_EQ(js["mismatched"], 1);
  EXPECT_EQ(js["match_rate"], 75.0);
  EXPECT_EQ(js["errors"], 5);
  EXPECT_EQ(js["dropped_queue_full"], 6);
  EXPECT_EQ(js["dropped_target_down"], 7);
  EXPECT_EQ(js["over_budget"], 8);
  EXPECT_EQ(js["last_error"], "timeout");
  ASSERT_EQ(js["shapes"].size(), 1u);
  EXPECT_EQ(js["shapes"][0]["shape"], "POST _search \"q\"");
  EXPECT_EQ(js["shapes"][0]["total"], 4);
  EXPECT_EQ(js["shapes"][0]["matched"], 3);
  EXPECT_EQ(js["shapes"][0]["mismatched"], 1);
  EXPECT_EQ(js["shapes"][0]["example"], "POST /i/_search");
  EXPECT_EQ(js["shapes"][0]["diff"][0], "body.hits.total: 1 -> 0");

  const std::string text = reads_metrics_text(rs);
  for (const char* line : {
           "tandem_proxy_read_capture_total{outcome=\"written\"} 7\n",
           "tandem_proxy_read_capture_total{outcome=\"dropped_queue_full\"} 1\n",
           "tandem_proxy_read_capture_total{outcome=\"dropped_store_full\"} 2\n",
           "tandem_proxy_read_capture_total{outcome=\"over_budget\"} 3\n",
           "tandem_proxy_read_capture_total{outcome=\"failed\"} 4\n",
           "tandem_proxy_read_capture_bytes 900\n",
           "tandem_proxy_read_capture_full 1\n",
           "tandem_proxy_shadow_reads_total{outcome=\"matched\"} 3\n",
           "tandem_proxy_shadow_reads_total{outcome=\"mismatched\"} 1\n",
           "tandem_proxy_shadow_reads_total{outcome=\"error\"} 5\n",
           "tandem_proxy_shadow_reads_total{outcome=\"dropped_queue_full\"} 6\n",
           "tandem_proxy_shadow_reads_total{outcome=\"dropped_target_down\"} 7\n",
           "tandem_proxy_shadow_reads_total{outcome=\"over_budget\"} 8\n",
           "tandem_proxy_shadow_match_ratio 0.750000\n",
           "tandem_proxy_shadow_shape_total{shape=\"POST _search \\\"q\\\"\",outcome=\"matched\"} "
           "3\n",
           "tandem_proxy_shadow_shape_total{shape=\"POST _search "
           "\\\"q\\\"\",outcome=\"mismatched\"} "
           "1\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // Capture's metrics come first, as before.
  EXPECT_LT(text.find("tandem_proxy_read_capture_total"), text.find("tandem_proxy_shadow_"));
}

}  // namespace
}  // namespace tandem::proxy
