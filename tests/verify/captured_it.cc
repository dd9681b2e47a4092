// Query parity from captured and shadowed reads, on real clusters: the
// proxy in front of blue (ES 7.17) captures a realistic read mix and mirrors
// it to green (ES 8.x); `compare --captured`'s engine replays the capture
// against both. The epoch_second range and the _id sort (an error on 8.x
// only) are mismatches with their shapes, both in the replay and in the
// live shadow counts; documents changed on blue after capture are reported
// as lag, not held against green; corrupt capture records are skipped and
// counted.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "es/es.h"
#include "proxy/admin.h"
#include "proxy/reads.h"
#include "proxy/server_fixture.h"
#include "support/clusters.h"
#include "support/services.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

using nlohmann::json;
using tandem::testing::connect_or_die;
namespace fs = std::filesystem;

// The CLI's judge (src/cli/proxy_cmd.cc) over the same normalizer.
class Judge : public proxy::ShadowJudge {
 public:
  std::string shape(std::string_view m, std::string_view t, std::string_view b) const override {
    return query_shape(Query{std::string(m), std::string(t), std::string(b)});
  }
  proxy::ShadowVerdict judge(int ps, std::string_view pb, int ss,
                             std::string_view sb) const override {
    proxy::ShadowVerdict v;
    for (auto& [p, l] : answer_diff(normalize_answer(ps, pb), normalize_answer(ss, sb), 1e-4))
      v.diff.push_back(l);
    v.match = v.diff.empty();
    return v;
  }
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CapturedIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", tandem::testing::blue_url());
    green_ = connect_or_die("green", tandem::testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    idx_ = IndexName(tandem::testing::unique_name("tcaptured"));
    json body = {{"settings", {{"number_of_shards", 1}, {"number_of_replicas", 0}}},
                 {"mappings",
                  {{"properties",
                    {{"title", {{"type", "text"}}},
                     {"brand", {{"type", "keyword"}}},
                     {"price", {{"type", "double"}}},
                     {"n", {{"type", "integer"}}},
                     {"ts", {{"type", "date"}, {"format", "epoch_second"}}}}}}}};
    const char* brands[] = {"acme", "globex", "initech"};
    const char* words[] = {"red shoe", "blue shoe", "green hat", "red hat", "quiet fan"};
    es::BulkBuilder bb;
    for (int i = 0; i < 40; ++i) {
      json d = {{"title", std::string(words[i % 5]) + " " + std::to_string(i)},
                {"brand", brands[i % 3]},
                {"price", 5.5 + i},
                {"n", i},
                {"ts", 1600000000 + i * 60}};
      bb.index(idx_, DocId(std::to_string(i)), d.dump());
    }
    for (es::Client* c : {blue_.get(), green_.get()}) {
      ASSERT_TRUE(c->create_index(idx_, body).is_ok());
      auto r = c->bulk(bb, "true");
      ASSERT_TRUE(r.is_ok() && !r->errors) << c->label();
    }
    dir_ = fs::temp_directory_path() / tandem::testing::unique_name("tandem-captured");
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (blue_) (void)blue_->delete_index(idx_);
    if (green_) (void)green_->delete_index(idx_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts the proxy in front of blue with read capture (and optionally
  // shadow reads to green) at rate 1.
  void start_proxy(bool shadow) {
    proxy::ReadCaptureOptions co;
    co.rate = 1;
    co.max_per_second = 100000;
    co.file = (dir_ / "reads.jsonl").string();
    auto st = proxy::ReadCaptureStore::open(co, nullptr);
    ASSERT_TRUE(st.is_ok()) << st.status().to_string();
    store_ = std::move(st).value();
    if (shadow) {
      proxy::ShadowOptions so;
      so.rate = 1;
      so.max_per_second = 100000;
      so.queue_max = 1000;
      so.timeout = std::chrono::milliseconds(5000);  // a loaded test machine
      auto sr =
          proxy::ShadowReads::start(so, tandem::testing::green_url(), {}, "TANDEM_GREEN", &judge_);
      ASSERT_TRUE(sr.is_ok()) << sr.status().to_string();
      shadow_ = std::move(sr).value();
    }
    tap_ = std::make_unique<proxy::ReadTap>(store_.get(), shadow_.get(), "blue");
    h_.reads = tap_.get();
    ASSERT_TRUE(h_.start(tandem::testing::blue_url(), {}, tandem::testing::green_url()).is_ok());
    proxy_ = connect_or_die("proxy", "http://127.0.0.1:" + std::to_string(h_.port()));
    ASSERT_TRUE(proxy_);
  }

  void send_through_proxy(const std::vector<Query>& qs) {
    for (const auto& q : qs) {
      http::Request r;
      r.method = q.method;
      r.target = q.path;
      r.body = q.body;
      auto resp = proxy_->send(r);
      ASSERT_TRUE(resp.is_ok()) << resp.status().to_string();
    }
    store_->flush();
    if (shadow_) shadow_->flush();
  }

  Query search(const json& body, const std::string& params = "") {
    return Query{"POST", "/" + idx_.get() + "/_search" + params, body.dump()};
  }

  std::unique_ptr<es::Client> blue_, green_, proxy_;
  IndexName idx_;
  fs::path dir_;
  Judge judge_;
  std::unique_ptr<proxy::ReadCaptureStore> store_;
  std::unique_ptr<proxy::ShadowReads> shadow_;
  std::unique_ptr<proxy::ReadTap> tap_;
  proxy::testing::Harness h_;  // declared last: stops first
};

TEST_F(CapturedIt, CapturedOn717AndReplayedAgainstBothShowsRealMismatchesByShape) {
  start_proxy(/*shadow=*/true);
  std::vector<Query> qs = {
      search({{"query", {{"match", {{"title", "red shoe"}}}}}}),
      search({{"query", {{"term", {{"brand", "acme"}}}}}}),
      search({{"query", {{"range", {{"price", {{"gte", 10}, {"lt", 20}}}}}}}}),
      search({{"query",
               {{"bool",
                 {{"must", {{{"match", {{"title", "hat"}}}}}},
                  {"filter", {{{"term", {{"brand", "globex"}}}}}},
                  {"must_not", {{{"range", {{"n", {{"gt", 30}}}}}}}}}}}}}),
      search({{"size", 0},
              {"aggs",
               {{"brands", {{"terms", {{"field", "brand"}}}}},
                {"avg_price", {{"avg", {{"field", "price"}}}}}}}}),
      search({{"sort", {{{"price", "desc"}}}}, {"size", 5}}),
      search({{"sort", {{{"n", "asc"}}}}, {"from", 10}, {"size", 5}}),
      search({{"query", {{"match", {{"title", "shoe"}}}}},
              {"highlight", {{"fields", {{"title", json::object()}}}}}}),
      search({{"_source", {"brand", "n"}}, {"query", {{"match_all", json::object()}}}}),
      Query{"GET", "/" + idx_.get() + "/_doc/7", ""},
      Query{"POST", "/" + idx_.get() + "/_count", R"({"query":{"term":{"brand":"initech"}}})"},
      // Differs on 8.x: a numeric range on an epoch_second date.
      search({{"query", {{"range", {{"ts", {{"gte", 1600000000}, {"lte", 1600000600}}}}}}}}),
      // Errors on green only: sorting on _id.
      search({{"sort", {{{"_id", "asc"}}}}}),
      // Not captured: cluster-specific reads.
      Query{"GET", "/_cat/indices", ""},
      Query{"GET", "/_cluster/health", ""},
  };
  send_through_proxy(qs);
  const size_t replayable = qs.size() - 2;

  // The capture: one record per replayable read, no credentials.
  auto s = store_->stats();
  EXPECT_EQ(s.written, replayable);
  EXPECT_FALSE(s.full);
  const std::string raw = slurp((dir_ / "reads.jsonl").string());
  EXPECT_EQ(raw.find("uthorization"), std::string::npos);
  CapturedReads caps = parse_captured_reads(raw);
  EXPECT_EQ(caps.corrupt, 0u);
  ASSERT_EQ(caps.reads.size(), replayable);

  // Replay against both.
  auto rep = compare_captured(*blue_, *green_, caps, CompareOptions{});
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  const std::string t = render_compare(*rep);
  EXPECT_EQ(rep->mismatched, 2u) << t;
  EXPECT_EQ(rep->lagging, 0u) << t;
  EXPECT_EQ(rep->matched, replayable - 2) << t;
  bool saw_range = false, saw_error = false;
  for (const auto& sh : rep->shapes) {
    if (sh.mismatched == 0) continue;
    saw_range |= sh.shape.find("\"ts\"") != std::string::npos;
    if (sh.shape.find("\"_id\"") != std::string::npos) {
      for (const auto& l : sh.example_diff) saw_error |= l == "status: 200 -> 400";
    }
  }
  EXPECT_TRUE(saw_range) << t;
  EXPECT_TRUE(saw_error) << t;

  // The same two, live, from the shadow reads.
  auto ss = shadow_->stats();
  EXPECT_EQ(ss.sent, replayable) << reads_status_json(tap_->status());
  EXPECT_EQ(ss.mismatched, 2u) << reads_status_json(tap_->status());
  EXPECT_EQ(ss.errors, 0u) << reads_status_json(tap_->status());
  bool live_range = false, live_id = false;
  for (const auto& [shape, c] : ss.shapes) {
    if (c.mismatched == 0) continue;
    live_range |= shape.find("\"ts\"") != std::string::npos;
    live_id |= shape.find("\"_id\"") != std::string::npos;
  }
  EXPECT_TRUE(live_range && live_id) << reads_status_json(tap_->status());
  const std::string metrics = reads_metrics_text(tap_->status());
  EXPECT_NE(metrics.find("tandem_proxy_shadow_reads_total{outcome=\"mismatched\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("tandem_proxy_shadow_shape_total{shape="), std::string::npos);
  EXPECT_NE(reads_status_json(tap_->status()).find("\"match_rate\""), std::string::npos);
}

TEST_F(CapturedIt, DocumentsChangedAfterCaptureAreLagNotMismatches) {
  start_proxy(/*shadow=*/false);
  send_through_proxy({
      Query{"GET", "/" + idx_.get() + "/_doc/7", ""},
      search({{"query", {{"term", {{"brand", "acme"}}}}}}),
      // Untouched below (a count: scores move with any write to the index).
      Query{"POST", "/" + idx_.get() + "/_count", R"({"query":{"term":{"brand":"initech"}}})"},
  });
  CapturedReads caps = parse_captured_reads(slurp((dir_ / "reads.jsonl").string()));
  ASSERT_EQ(caps.reads.size(), 3u);
  // Blue moves on; green (its loader behind) does not.
  ASSERT_TRUE(blue_
                  ->send({"POST", "/" + idx_.get() + "/_update/7?refresh=true",
                          R"({"doc":{"title":"changed after capture"}})"})
                  .is_ok());
  ASSERT_TRUE(blue_->send({"DELETE", "/" + idx_.get() + "/_doc/0?refresh=true", ""}).is_ok());
  CompareOptions o;
  o.lag_grace = std::chrono::milliseconds(100);
  auto rep = compare_captured(*blue_, *green_, caps, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  const std::string t = render_compare(*rep);
  EXPECT_EQ(rep->lagging, 2u) << t;
  EXPECT_EQ(rep->mismatched, 0u) << t;
  EXPECT_EQ(rep->matched, 1u) << t;
  EXPECT_DOUBLE_EQ(rep->match_rate(), 100.0) << t;
  EXPECT_NE(t.find("lagging: 2 captured read(s)"), std::string::npos) << t;

  // A difference the capture does not explain still counts: green changes
  // on its own (a client writing straight to green).
  ASSERT_TRUE(green_
                  ->send({"POST", "/" + idx_.get() + "/_update/7?refresh=true",
                          R"({"doc":{"title":"written to green only"}})"})
                  .is_ok());
  auto rep2 = compare_captured(*blue_, *green_, caps, o);
  ASSERT_TRUE(rep2.is_ok());
  bool doc_mismatch = false;
  for (const auto& sh : rep2->shapes) doc_mismatch |= sh.endpoint == "_doc" && sh.mismatched == 1;
  EXPECT_TRUE(doc_mismatch) << render_compare(*rep2);
  EXPECT_FALSE(rep2->ok());
}

TEST_F(CapturedIt, CorruptRecordsAreSkippedCountedAndNamed) {
  start_proxy(/*shadow=*/false);
  send_through_proxy({search({{"query", {{"term", {{"brand", "acme"}}}}}})});
  const std::string path = (dir_ / "reads.jsonl").string();
  {
    std::ofstream out(path, std::ios::app);
    out << "this is not json\n";
    out << R"({"v":1,"method":"GET"})"
        << "\n";                                         // fields missing
    out << R"({"v":1,"method":"POST","path":"/x/_sea)";  // torn
  }
  CapturedReads caps = parse_captured_reads(slurp(path));
  EXPECT_EQ(caps.reads.size(), 1u);
  EXPECT_EQ(caps.corrupt, 3u);
  ASSERT_EQ(caps.problems.size(), 3u);
  EXPECT_EQ(caps.problems[0].rfind("line 2:", 0), 0u) << caps.problems[0];
  auto rep = compare_captured(*blue_, *green_, caps, CompareOptions{});
  ASSERT_TRUE(rep.is_ok());
  EXPECT_EQ(rep->matched, 1u);
  EXPECT_EQ(rep->corrupt, 3u);
  EXPECT_NE(render_compare(*rep).find("3 corrupt record(s) skipped"), std::string::npos);
}

}  // namespace
}  // namespace tandem::verify
