// Unit tests of the proxy's read side (reads.h): sampling and its per-second
// bound, which reads are replayable, the read-capture store's record format,
// its bounds (full store, full queue) and a torn tail, and the config keys.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/reads.h"

namespace tandem::proxy {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string temp_dir() {
  auto d = fs::temp_directory_path() /
           ("tandem-reads-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  fs::create_directories(d);
  return d.string();
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

std::shared_ptr<ReadSample> sample(std::string target, std::string answer = R"({"hits":{}})") {
  auto s = std::make_shared<ReadSample>();
  s->method = "POST";
  s->target = std::move(target);
  s->body = R"({"query":{"match_all":{}}})";
  s->status = 200;
  s->answer = std::move(answer);
  s->time_ms = 1700000000000;
  return s;
}

TEST(ReadSampler, OffByDefaultAndBoundedPerSecond) {
  ReadSampler off(0, 100);
  EXPECT_FALSE(off.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(off.take());

  ReadSampler all(1.0, 10);
  int taken = 0;
  for (int i = 0; i < 1000; ++i) taken += all.take() ? 1 : 0;
  // A burst may straddle one second boundary: at most two budgets.
  EXPECT_GE(taken, 10);
  EXPECT_LE(taken, 20);
  EXPECT_GE(all.over_budget(), 980u);

  ReadSampler some(0.1, 1'000'000);
  taken = 0;
  for (int i = 0; i < 20000; ++i) taken += some.take() ? 1 : 0;
  EXPECT_GT(taken, 1000);  // ~2000 expected
  EXPECT_LT(taken, 3000);
}

TEST(ReadSampler, ReplayableReads) {
  EXPECT_TRUE(is_replayable_read("POST", "/idx/_search?size=3"));
  EXPECT_TRUE(is_replayable_read("GET", "/_search"));
  EXPECT_TRUE(is_replayable_read("GET", "/_all/_search"));
  EXPECT_TRUE(is_replayable_read("POST", "/idx/_msearch"));
  EXPECT_TRUE(is_replayable_read("POST", "/idx/_count"));
  EXPECT_TRUE(is_replayable_read("GET", "/idx/_doc/7"));
  EXPECT_TRUE(is_replayable_read("HEAD", "/idx/_doc/7"));
  EXPECT_TRUE(is_replayable_read("GET", "/idx/_source/7"));
  EXPECT_TRUE(is_replayable_read("POST", "/idx/_mget"));
  EXPECT_FALSE(is_replayable_read("POST", "/_search/scroll"));
  EXPECT_FALSE(is_replayable_read("DELETE", "/_search/scroll"));
  EXPECT_FALSE(is_replayable_read("POST", "/idx/_pit"));
  EXPECT_FALSE(is_replayable_read("GET", "/_cat/indices"));
  EXPECT_FALSE(is_replayable_read("GET", "/_cluster/health"));
  EXPECT_FALSE(is_replayable_read("GET", "/"));
  EXPECT_FALSE(is_replayable_read("GET", "/idx"));
  EXPECT_FALSE(is_replayable_read("POST", "/idx/_refresh"));
  EXPECT_FALSE(is_replayable_read("GET", "/idx/_doc"));
}

TEST(ReadCaptureStore, WritesDocumentedRecordsOffThePath) {
  const std::string dir = temp_dir();
  ReadCaptureOptions o;
  o.rate = 1;
  o.file = dir + "/reads.jsonl";
  auto st = ReadCaptureStore::open(o, nullptr);
  ASSERT_TRUE(st.is_ok()) << st.status().to_string();
  auto& store = *st.value();
  store.offer(sample("/idx/_search?q=a"));
  // A gzip answer (a client that accepts gzip) is stored decoded.
  auto gz = sample("/idx/_count");
  gz->answer = http::encode_content(http::ContentCoding::kGzip, R"({"count":3})").value();
  gz->answer_coding = "gzip";
  store.offer(gz);
  // Not UTF-8 in the body: replaced, the record stays valid JSON.
  auto bad = sample("/idx/_search");
  bad->body = "{\"query\":{\"term\":{\"k\":\"\xff\xfe\"}}}";
  store.offer(bad);
  store.flush();
  const auto s = store.stats();
  EXPECT_EQ(s.written, 3u);
  EXPECT_FALSE(s.full);
  auto lines = lines_of(o.file);
  ASSERT_EQ(lines.size(), 3u);
  auto j = json::parse(lines[0]);
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/idx/_search?q=a");
  EXPECT_EQ(j["body"], R"({"query":{"match_all":{}}})");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["answer"], R"({"hits":{}})");
  EXPECT_EQ(j["time_ms"], 1700000000000);
  EXPECT_TRUE(j["loader_lag"].is_null());  // no log: unknown
  EXPECT_TRUE(j["log_end"].is_null());
  EXPECT_EQ(json::parse(lines[1])["answer"], R"({"count":3})");
  EXPECT_TRUE(json::parse(lines[2])["body"].is_string());
  // Nothing but these keys: no headers (so never an Authorization).
  for (auto it = j.begin(); it != j.end(); ++it) {
    EXPECT_TRUE((std::set<std::string>{"v", "time_ms", "method", "path", "body", "status", "answer",
                                       "log_end", "loader_lag"}
                     .count(it.key())))
        << it.key();
  }
  fs::remove_all(dir);
}

TEST(ReadCaptureStore, FullStoreStopsWithAClearMessageAndCounts) {
  const std::string dir = temp_dir();
  ReadCaptureOptions o;
  o.rate = 1;
  o.file = dir + "/reads.jsonl";
  o.max_bytes = 300;  // room for one record (~180 bytes)
  std::vector<std::string> logged;
  std::mutex mu;
  o.log = [&](std::string_view, std::string_view m) {
    std::lock_guard<std::mutex> l(mu);
    logged.emplace_back(m);
  };
  {
    auto st = ReadCaptureStore::open(o, nullptr);
    ASSERT_TRUE(st.is_ok());
    auto& store = *st.value();
    for (int i = 0; i < 5; ++i) store.offer(sample("/idx/_search"));
    store.flush();
    const auto s = store.stats();
    EXPECT_EQ(s.written, 1u);
    EXPECT_TRUE(s.full);
    EXPECT_EQ(s.dropped_store_full, 4u);
    EXPECT_NE(s.last_error.find("is full"), std::string::npos) << s.last_error;
    EXPECT_NE(s.last_error.find("reads.capture.max_bytes"), std::string::npos);
    const ReadsStatus rs{store.status(), std::nullopt};
    EXPECT_NE(reads_status_json(rs).find("\"full\":true"), std::string::npos);
    EXPECT_NE(reads_metrics_text(rs).find("tandem_proxy_read_capture_full 1"), std::string::npos);
    std::lock_guard<std::mutex> l(mu);
    EXPECT_EQ(logged.size(), 1u);  // said once, not per sample
  }
  EXPECT_LE(fs::file_size(o.file), 300u);
  // Reopened when already full: runs, captures nothing, says why.
  auto again = ReadCaptureStore::open(o, nullptr);
  ASSERT_TRUE(again.is_ok());
  again.value()->offer(sample("/idx/_search"));
  again.value()->flush();
  EXPECT_TRUE(again.value()->stats().full);
  EXPECT_EQ(again.value()->stats().written, 0u);
  fs::remove_all(dir);
}

TEST(ReadCaptureStore, QueueFullDropsAndCountsWithoutBlocking) {
  const std::string dir = temp_dir();
  ReadCaptureOptions o;
  o.rate = 1;
  o.file = dir + "/reads.jsonl";
  o.queue_max = 2;
  auto st = ReadCaptureStore::open(o, nullptr);
  ASSERT_TRUE(st.is_ok());
  // One 1 MiB sample offered 200 times: only offer() is timed.
  std::shared_ptr<const ReadSample> big =
      sample("/idx/_search", "\"" + std::string(1 << 20, 'x') + "\"");
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) st.value()->offer(big);
  const auto took = std::chrono::steady_clock::now() - t0;
  st.value()->flush();
  const auto s = st.value()->stats();
  EXPECT_EQ(s.written + s.dropped_queue_full, 200u);
  EXPECT_GT(s.dropped_queue_full, 0u);
  // offer() never waits for the writer (200 MiB of writes would take far
  // longer than this).
  EXPECT_LT(took, std::chrono::seconds(2));
  fs::remove_all(dir);
}

TEST(ReadCaptureStore, TornTailStartsTheNextRecordOnItsOwnLine) {
  const std::string dir = temp_dir();
  ReadCaptureOptions o;
  o.rate = 1;
  o.file = dir + "/reads.jsonl";
  {
    std::ofstream out(o.file);
    out << R"({"v":1,"method":"GET","pa)";  // a crash mid-record
  }
  auto st = ReadCaptureStore::open(o, nullptr);
  ASSERT_TRUE(st.is_ok());
  st.value()->offer(sample("/idx/_search"));
  st.value()->flush();
  auto lines = lines_of(o.file);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(json::parse(lines[0], nullptr, false).is_discarded());
  EXPECT_EQ(json::parse(lines[1])["path"], "/idx/_search");
  fs::remove_all(dir);
}

TEST(ReadCaptureStore, UnopenableFileIsNamed) {
  ReadCaptureOptions o;
  o.rate = 1;
  o.file = "/nonexistent-dir-for-tandem/reads.jsonl";
  auto st = ReadCaptureStore::open(o, nullptr);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.status().message().find("/nonexistent-dir-for-tandem/reads.jsonl"),
            std::string::npos);
}

TEST(ReadsConfig, ParsesAndNamesKeys) {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto c = parse_config(R"(
primary: {url: "http://127.0.0.1:9200"}
secondary: {url: "http://127.0.0.1:9201"}
log: {dir: /tmp/tandem-reads-log}
state: /tmp/tandem-reads-state.db
reads:
  capture: {rate: 0.05, max_per_second: 20, file: /tmp/r.jsonl, max_bytes: 1mb}
  shadow: {rate: 1, max_per_second: 10, queue: 8, threads: 2, connect_timeout: 50ms, timeout: 300ms}
)",
                        "proxy.yaml", env);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_DOUBLE_EQ(c->read_capture.rate, 0.05);
  EXPECT_EQ(c->read_capture.max_per_second, 20u);
  EXPECT_EQ(c->read_capture.file, "/tmp/r.jsonl");
  EXPECT_EQ(c->read_capture.max_bytes, 1u << 20);
  EXPECT_DOUBLE_EQ(c->shadow.rate, 1.0);
  EXPECT_EQ(c->shadow.queue_max, 8u);
  EXPECT_EQ(c->shadow.threads, 2);
  EXPECT_EQ(c->shadow.connect_timeout, std::chrono::milliseconds(50));
  EXPECT_EQ(c->shadow.timeout, std::chrono::milliseconds(300));
  EXPECT_TRUE(validate(*c).is_ok()) << validate(*c).to_string();

  auto bad = parse_config("reads: {capture: {rate: 2}}", "proxy.yaml", env);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("reads.capture.rate"), std::string::npos);
  auto typo = parse_config("reads: {shadow: {rat: 1}}", "proxy.yaml", env);
  ASSERT_FALSE(typo.is_ok());
  EXPECT_NE(typo.status().message().find("reads.shadow.rat"), std::string::npos);

  auto noshadow = parse_config(R"(
primary: {url: "http://127.0.0.1:9200"}
log: {dir: /tmp/tandem-reads-log}
state: /tmp/tandem-reads-state.db
reads: {shadow: {rate: 0.5}}
)",
                               "proxy.yaml", env);
  ASSERT_TRUE(noshadow.is_ok());
  Status v = validate(*noshadow);
  ASSERT_FALSE(v.is_ok());
  EXPECT_NE(v.message().find("secondary"), std::string::npos) << v.to_string();
}

TEST(ReadsConfig, PrometheusLabelsAreEscaped) {
  EXPECT_EQ(prometheus_label(R"(POST _search {"a":"?"})"), R"(POST _search {\"a\":\"?\"})");
  EXPECT_EQ(prometheus_label("a\\b\nc"), "a\\\\b\\nc");
}

}  // namespace
}  // namespace tandem::proxy
