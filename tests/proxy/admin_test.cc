// The admin API's documents (no sockets): /status and /metrics bodies.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "proxy/admin.h"

namespace tandem::proxy {
namespace {

class StubCapture : public WriteCapture {
 public:
  std::string json =
      R"({"durability":"sync","events_emitted":42,"spill_depth":3,"fail_closed":true})";
  void begin_async(const RequestView&, const Classification&, BeginCallback done) override {
    done({});
  }
  void complete(Ticket, UpstreamAnswer, CompleteCallback done) override { done(""); }
  void abandon(Ticket) override {}
  std::string status_json() const override { return json; }
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
  EXPECT_EQ(j["fail_closed"], true);
}

TEST(AdminTest, NonJsonCaptureStatusIsKeptAsString) {
  RoleTable roles(Endpoint{"blue", "http://b:9200"}, Endpoint{"green", "http://g:9200"}, Epoch(0));
  StubCapture cap;
  cap.json = "not json";
  auto j = nlohmann::json::parse(admin_status_json(roles, cap, nullptr));
  EXPECT_EQ(j["capture"], "not json");
  EXPECT_EQ(j["fail_closed"], false);
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
  EXPECT_NE(text.find("tandem_proxy_front_door_rejections_total{reason=\"body_too_large\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("tandem_proxy_added_latency_seconds_count 2"), std::string::npos);
}

}  // namespace
}  // namespace tandem::proxy
