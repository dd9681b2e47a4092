// Shadow reads must never touch the client: the proxy in front of real blue
// (ES 7.17) with every read mirrored (rate 1) is compared, request by
// request and interleaved, with the same proxy without shadowing, while the
// shadow target is stopped (nothing listens), a black hole (connects, never
// answers) or the live green. Client latency (p50/p99, generous bounds) and
// the error rate must not move; the shadow's failures are counted.
//
// TANDEM_SHADOW_N sets the number of reads per side (default 300); the
// benchmark in docs/benchmarks.md is this test with a larger N.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>

#include "http/http.h"
#include "proxy/admin.h"
#include "proxy/reads.h"
#include "proxy/server_fixture.h"
#include "support/services.h"

namespace tandem::proxy::testing {
namespace {

using Clock = std::chrono::steady_clock;

class AlwaysMatch : public ShadowJudge {
 public:
  std::string shape(std::string_view m, std::string_view, std::string_view) const override {
    return std::string(m);
  }
  ShadowVerdict judge(int ps, std::string_view pb, int ss, std::string_view sb) const override {
    ShadowVerdict v;
    v.match = ps == ss && pb.size() > 0 && sb.size() > 0;
    return v;
  }
};

std::unique_ptr<http::Client> client_for(const std::string& url) {
  http::ClientOptions o;
  o.url = http::Url::parse(url).value();
  o.max_retries = 0;
  o.request_timeout = std::chrono::milliseconds(10000);
  return http::make_client(o).value();
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int reads_per_side() {
  const char* n = std::getenv("TANDEM_SHADOW_N");
  return n ? std::max(50, std::atoi(n)) : 300;
}

// A listener that never accepts: connections complete (kernel backlog)
// and requests are never answered.
struct BlackHole {
  int fd = -1;
  uint16_t port = 0;
  BlackHole() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 1024);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~BlackHole() { ::close(fd); }
};

class ShadowReadsIt : public ::testing::Test {
 protected:
  void SetUp() override {
    idx_ = tandem::testing::unique_name("tshadow");
    for (const std::string& url : {tandem::testing::blue_url(), tandem::testing::green_url()}) {
      auto c = client_for(url);
      std::string bulk;
      for (int i = 0; i < 200; ++i) {
        bulk += R"({"index":{"_index":")" + idx_ + R"(","_id":")" + std::to_string(i) + "\"}}\n";
        bulk +=
            R"({"title":"red shoe )" + std::to_string(i) + R"(","n":)" + std::to_string(i) + "}\n";
      }
      http::Request r;
      r.method = "POST";
      r.target = "/_bulk?refresh=true";
      r.body = bulk;
      r.content_type = "application/x-ndjson";
      auto resp = c->send(r);
      ASSERT_TRUE(resp.is_ok() && resp->status == 200) << url;
    }
  }
  void TearDown() override {
    for (const std::string& url : {tandem::testing::blue_url(), tandem::testing::green_url()}) {
      http::Request r;
      r.method = "DELETE";
      r.target = "/" + idx_;
      (void)client_for(url)->send(r);
    }
  }

  struct Side {
    std::vector<double> ms;
    int errors = 0;
  };

  // Runs N reads through each proxy, interleaved (alternating which goes
  // first) so machine noise hits both sides alike.
  void run(const std::string& shadow_url, const char* label, bool expect_failures,
           const std::function<void(ShadowOptions&)>& tweak = {}) {
    AlwaysMatch judge;
    ShadowOptions so;
    so.rate = 1;
    so.max_per_second = 1'000'000;
    so.connect_timeout = std::chrono::milliseconds(200);
    so.timeout = std::chrono::milliseconds(500);
    if (tweak) tweak(so);
    auto shadow = ShadowReads::start(so, shadow_url, {}, "", &judge);
    ASSERT_TRUE(shadow.is_ok()) << shadow.status().to_string();
    ReadTap tap(nullptr, shadow.value().get(), "blue");
    Harness off, on;
    on.reads = &tap;
    ASSERT_TRUE(off.start(tandem::testing::blue_url()).is_ok());
    ASSERT_TRUE(on.start(tandem::testing::blue_url(), {}, tandem::testing::green_url()).is_ok());
    auto c_off = client_for("http://127.0.0.1:" + std::to_string(off.port()));
    auto c_on = client_for("http://127.0.0.1:" + std::to_string(on.port()));
    http::Request req;
    req.method = "POST";
    req.target = "/" + idx_ + "/_search";
    req.body = R"({"query":{"match":{"title":"red shoe"}},"size":10})";
    auto one = [&](http::Client& c, Side& s) {
      const auto t0 = Clock::now();
      auto r = c.send(req);
      const auto dt = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (!r.is_ok() || r->status != 200) {
        ++s.errors;
      } else {
        s.ms.push_back(dt);
      }
    };
    // Warm both paths (connections, caches) before measuring.
    Side warm;
    for (int i = 0; i < 20; ++i) {
      one(*c_off, warm);
      one(*c_on, warm);
    }
    shadow.value()->flush();
    const auto before = shadow.value()->stats();
    Side s_off, s_on;
    const int n = reads_per_side();
    for (int i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        one(*c_off, s_off);
        one(*c_on, s_on);
      } else {
        one(*c_on, s_on);
        one(*c_off, s_off);
      }
    }
    shadow.value()->flush();
    const auto st = shadow.value()->stats();
    const double p50_off = pct(s_off.ms, 0.5), p50_on = pct(s_on.ms, 0.5);
    const double p99_off = pct(s_off.ms, 0.99), p99_on = pct(s_on.ms, 0.99);
    std::printf(
        "shadow %s: %d reads per side; client p50 off %.3f ms on %.3f ms (%+.3f); p99 off %.3f "
        "ms on %.3f ms (%+.3f); errors off %d on %d; shadow sent %llu matched %llu errors %llu "
        "dropped queue_full %llu target_down %llu\n",
        label, n, p50_off, p50_on, p50_on - p50_off, p99_off, p99_on, p99_on - p99_off,
        s_off.errors, s_on.errors, static_cast<unsigned long long>(st.sent - before.sent),
        static_cast<unsigned long long>(st.matched - before.matched),
        static_cast<unsigned long long>(st.errors - before.errors),
        static_cast<unsigned long long>(st.dropped_queue_full - before.dropped_queue_full),
        static_cast<unsigned long long>(st.dropped_target_down - before.dropped_target_down));
    EXPECT_EQ(s_off.errors, 0);
    EXPECT_EQ(s_on.errors, 0);
    // Generous: a shared, busy machine. A client waiting on the shadow
    // would show the shadow's 200-500 ms timeouts here.
    EXPECT_LE(p50_on, p50_off * 1.5 + 2.0);
    EXPECT_LE(p99_on, p99_off * 2.0 + 20.0);
    const uint64_t accounted = (st.sent - before.sent) + (st.errors - before.errors) +
                               (st.dropped_queue_full - before.dropped_queue_full) +
                               (st.dropped_target_down - before.dropped_target_down);
    EXPECT_EQ(accounted, static_cast<uint64_t>(n)) << reads_status_json(tap.status());
    if (std::string(label) == "green black hole") {
      EXPECT_GT(st.dropped_queue_full - before.dropped_queue_full, 0u);
    }
    if (expect_failures) {
      EXPECT_EQ(st.sent, 0u);
      EXPECT_GT(st.errors, 0u);
      EXPECT_FALSE(st.last_error.empty());
      EXPECT_NE(reads_metrics_text(tap.status())
                    .find("tandem_proxy_shadow_reads_total{outcome=\"error\"}"),
                std::string::npos);
    } else {
      EXPECT_EQ(st.errors, 0u) << reads_status_json(tap.status());
      EXPECT_GT(st.sent - before.sent, 0u);
      EXPECT_EQ(st.mismatched, 0u);
    }
  }

  std::string idx_;
};

TEST_F(ShadowReadsIt, GreenStoppedLeavesClientLatencyAndErrorsAlone) {
  run("http://127.0.0.1:" + std::to_string(dead_port()), "green stopped", true);
}

TEST_F(ShadowReadsIt, GreenBlackHoleFillsTheQueueAndDropsNotTheClient) {
  BlackHole bh;
  // No down back-off and a tiny queue: the one shadow thread sits in
  // 500 ms timeouts, the queue fills, and samples are dropped and counted.
  run("http://127.0.0.1:" + std::to_string(bh.port), "green black hole", true,
      [](ShadowOptions& o) {
        o.down_backoff = std::chrono::milliseconds(0);
        o.queue_max = 4;
      });
}

TEST_F(ShadowReadsIt, LiveGreenAddsNoClientLatency) {
  run(tandem::testing::green_url(), "green live", false);
}

}  // namespace
}  // namespace tandem::proxy::testing
