// The admin API over loopback HTTP: token auth, /status, /metrics, and a
// role switch that moves writes to the new primary with the epoch bumped.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "proxy/admin.h"
#include "proxy/server_fixture.h"

namespace tandem::proxy::testing {
namespace {

std::string admin_call(uint16_t port, const std::string& method, const std::string& target,
                       const std::string& token = "") {
  RawClient c(port);
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: a\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  req += "Content-Length: 0\r\n\r\n";
  if (!c.send(req)) return {};
  return c.read_all();
}

class EpochCapture : public FakeCapture {
 public:
  std::atomic<uint32_t> epoch{0};
  bool refuse = false;
  Status set_epoch(Epoch e) override {
    if (refuse) return error(Code::kFailedPrecondition, "refused by test");
    epoch = e.get();
    return Status::ok();
  }
};

struct AdminHarness {
  TinyUpstream blue{[](const SeenRequest&) { return json_response(R"({"from":"blue"})"); }};
  TinyUpstream green{[](const SeenRequest&) { return json_response(R"({"from":"green"})"); }};
  Harness h;
  EpochCapture cap;
  std::unique_ptr<AdminServer> admin;

  void start(const std::string& token) {
    ASSERT_TRUE(h.start(blue.url(), {}, green.url()).is_ok());
    AdminConfig cfg;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.token = http::Secret(token);
    AdminDeps d;
    d.roles = h.roles.get();
    d.capture = &cap;
    d.metrics = &h.metrics;
    d.server = h.server.get();
    d.on_switch = [this](const RoleSnapshot& next) { return cap.set_epoch(next.epoch); };
    d.switch_drain_timeout = std::chrono::milliseconds(2000);
    auto a = AdminServer::start(cfg, std::move(d));
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    admin = std::move(a).value();
  }
  ~AdminHarness() { admin.reset(); }
};

TEST(AdminHttpIT, TokenIsRequiredAndNeverEchoed) {
  AdminHarness a;
  a.start("s3cr3t-token");
  const std::string none = admin_call(a.admin->port(), "GET", "/status");
  EXPECT_EQ(status_of(none), 401) << none;
  const std::string wrong = admin_call(a.admin->port(), "GET", "/status", "s3cr3t-tokeX");
  EXPECT_EQ(status_of(wrong), 401);
  EXPECT_EQ(wrong.find("s3cr3t"), std::string::npos);
  const std::string ok = admin_call(a.admin->port(), "GET", "/status", "s3cr3t-token");
  EXPECT_EQ(status_of(ok), 200) << ok;
  auto j = nlohmann::json::parse(body_of(ok));
  EXPECT_EQ(j["roles"]["primary"]["name"], "blue");
  EXPECT_EQ(j["capture"]["events_emitted"], 7);
  EXPECT_TRUE(j["server"]["open_connections"].is_number());
}

TEST(AdminHttpIT, MetricsCountRequestsByClassAndStatus) {
  AdminHarness a;
  a.start("");
  RawClient c(a.h.port());
  ASSERT_TRUE(c.send("GET /i/_search HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(status_of(c.read_response()), 200);
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(status_of(c.read_response()), 200);
  const std::string m = admin_call(a.admin->port(), "GET", "/metrics");
  EXPECT_EQ(status_of(m), 200);
  EXPECT_NE(m.find("tandem_proxy_requests_total{class=\"read\",status=\"200\"} 1"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tandem_proxy_added_latency_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.find("tandem_proxy_capture_spill_depth 2"), std::string::npos);
  EXPECT_EQ(status_of(admin_call(a.admin->port(), "GET", "/nope")), 404);
  EXPECT_EQ(status_of(admin_call(a.admin->port(), "DELETE", "/status")), 405);
}

TEST(AdminHttpIT, SwitchMovesWritesAndBumpsEpoch) {
  AdminHarness a;
  a.start("tok");
  RawClient c(a.h.port());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(body_of(c.read_response()), R"({"from":"blue"})");
  const std::string sw = admin_call(a.admin->port(), "POST", "/roles/switch?timeout=2s", "tok");
  ASSERT_EQ(status_of(sw), 200) << sw;
  auto j = nlohmann::json::parse(body_of(sw));
  EXPECT_EQ(j["after"]["primary"]["name"], "green");
  EXPECT_EQ(j["after"]["epoch"], 1);
  EXPECT_EQ(a.cap.epoch.load(), 1u);
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(body_of(c.read_response()), R"({"from":"green"})");
  // A capture that refuses the epoch aborts the switch: roles unchanged.
  a.cap.refuse = true;
  const std::string bad = admin_call(a.admin->port(), "POST", "/roles/switch", "tok");
  EXPECT_EQ(status_of(bad), 409) << bad;  // capture's kFailedPrecondition
  EXPECT_NE(bad.find("refused by test"), std::string::npos) << bad;
  EXPECT_EQ(a.h.roles->snapshot()->primary.name, "green");
  EXPECT_EQ(status_of(admin_call(a.admin->port(), "POST", "/roles/switch?timeout=bogus", "tok")),
            400);
}

}  // namespace
}  // namespace tandem::proxy::testing
