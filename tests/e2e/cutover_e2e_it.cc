// End-to-end tests of `tandem migrate` and the fenced flip (docs/cutover.md)
// on real processes: two `tandem proxy` binaries on one Kafka topic, a
// forward and a reverse `tandem load`, real blue (ES 7.17) and green (8.x).
// Each proxy reaches each cluster through a recording relay, the record of
// which writes reached which cluster.
//   1. continuous traffic alternating between the proxies, every
//      acknowledged write recorded; cutover -> traffic -> rollback ->
//      traffic -> cutover; after each flip both clusters hold exactly the
//      acknowledged state (by content), no write reached the old primary
//      after the decision, and no client write failed;
//   2. failures: a proxy unreachable during prepare aborts; a second
//      concurrent cutover is refused; a loader that cannot reach the fence
//      aborts; kill -9 of the coordinator after prepare (re-run aborts) and
//      after commit (the proxies read the decision themselves, a re-run
//      confirms).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "e2e/harness.h"
#include "support/process.h"
#include "support/relay.h"
#include "support/services.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One client write and what the client saw.
struct Write {
  std::string tag;  // X-Opaque-Id
  std::string id;
  bool is_delete = false;
  std::string body;
  int64_t sent_ms = 0;
  int status = 0;  // 0: transport error
};

// Clients that write sequentially, alternating between the proxies, each in
// its own id space, so the last acknowledged write per id is well defined.
class Traffic {
 public:
  Traffic(std::vector<std::string> proxies, std::string index, int clients)
      : proxies_(std::move(proxies)), index_(std::move(index)) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, c] { run(c); });
    }
  }
  ~Traffic() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  // Pauses (and waits until no request is outstanding) / resumes.
  void pause() {
    paused_ = true;
    while (busy_ > 0) std::this_thread::sleep_for(5ms);
  }
  void resume() { paused_ = false; }
  std::vector<Write> writes() const {
    std::lock_guard<std::mutex> g(mu_);
    return writes_;
  }

 private:
  void run(int c) {
    std::vector<std::unique_ptr<http::Client>> clients;
    for (const auto& p : proxies_) clients.push_back(client_for(p));
    std::mt19937 rng(static_cast<unsigned>(c * 7919 + 1));
    for (int k = 0; !stop_; ++k) {
      if (paused_) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      ++busy_;
      if (paused_) {
        --busy_;
        continue;
      }
      Write w;
      w.tag = "c" + std::to_string(c) + "-" + std::to_string(k);
      w.id = "c" + std::to_string(c) + "-" + std::to_string(rng() % 40);
      w.is_delete = rng() % 8 == 0;
      if (!w.is_delete) w.body = json{{"client", c}, {"k", k}, {"v", rng() % 1000}}.dump();
      auto& cl = *clients[static_cast<size_t>(k + c) % clients.size()];
      w.sent_ms = wall_ms();
      auto r = w.is_delete ? send_tagged(cl, w.tag, "DELETE", "/" + index_ + "/_doc/" + w.id)
                           : send_tagged(cl, w.tag, "PUT", "/" + index_ + "/_doc/" + w.id, w.body);
      w.status = r.is_ok() ? r->status : 0;
      {
        std::lock_guard<std::mutex> g(mu_);
        writes_.push_back(std::move(w));
      }
      --busy_;
      std::this_thread::sleep_for(10ms);
    }
  }

  std::vector<std::string> proxies_;
  std::string index_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<int> busy_{0};
  mutable std::mutex mu_;
  std::vector<Write> writes_;
  std::vector<std::thread> threads_;
};

// The acknowledged state: per id, the body of the last acknowledged write
// (nullopt: deleted). A write with no answer makes its id uncertain.
struct Expected {
  std::map<std::string, std::optional<std::string>> docs;
  std::set<std::string> uncertain;
  int failed = 0;
};

Expected expected_state(const std::vector<Write>& ws) {
  Expected e;
  for (const auto& w : ws) {
    const bool ok = w.status >= 200 && w.status < 300;
    const bool gone = w.is_delete && w.status == 404;  // deleting a missing doc
    if (ok || gone) {
      if (w.is_delete) {
        e.docs[w.id] = std::nullopt;
      } else {
        e.docs[w.id] = w.body;
      }
      e.uncertain.erase(w.id);
    } else {
      ++e.failed;
      e.uncertain.insert(w.id);
    }
  }
  return e;
}

class Cluster {
 public:
  explicit Cluster(std::string url) : url_(std::move(url)), c_(client_for(url_)) {}
  http::Response req(const std::string& method, const std::string& target,
                     const std::string& body = "") {
    http::Request r;
    r.method = method;
    r.target = target;
    r.body = body;
    if (!body.empty()) r.content_type = "application/json";
    auto res = c_->send(r);
    EXPECT_TRUE(res.is_ok()) << url_ << target << ": " << res.status().to_string();
    return res.is_ok() ? *res : http::Response{};
  }
  // _source of a document, nullopt when it does not exist.
  std::optional<json> source(const std::string& index, const std::string& id) {
    auto r = req("GET", "/" + index + "/_doc/" + id);
    if (r.status == 404) return std::nullopt;
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.value("found", false)) return std::nullopt;
    return j["_source"];
  }
  int64_t count(const std::string& index) {
    req("POST", "/" + index + "/_refresh");
    auto j = json::parse(req("GET", "/" + index + "/_count").body, nullptr, false);
    return j.is_discarded() ? -1 : j.value("count", int64_t{-1});
  }
  const std::string& url() const { return url_; }

 private:
  std::string url_;
  std::unique_ptr<http::Client> c_;
};

// Both clusters, by content: every acknowledged document with its last
// acknowledged body, every deleted one absent (nothing lost, nothing
// resurrected), and no document the clients never wrote beyond the seed.
void expect_content(Cluster& blue, Cluster& green, const std::string& index, const Expected& e,
                    int64_t seed_docs, const std::string& when) {
  int64_t live = seed_docs;
  int problems = 0;
  for (const auto& [id, body] : e.docs) {
    if (e.uncertain.count(id)) continue;
    if (body) ++live;
    for (Cluster* c : {&blue, &green}) {
      auto got = c->source(index, id);
      const bool same = body ? (got && *got == json::parse(*body)) : !got.has_value();
      if (!same && problems++ < 10) {
        ADD_FAILURE() << when << ": " << c->url() << " " << index << "/" << id << " is "
                      << (got ? got->dump() : "absent")
                      << ", acknowledged: " << (body ? *body : "deleted");
      }
    }
  }
  if (e.uncertain.empty()) {
    EXPECT_EQ(blue.count(index), live) << when << ": blue";
    EXPECT_EQ(green.count(index), live) << when << ": green";
  }
  EXPECT_EQ(problems, 0) << when;
}

// Which relay (cluster) received each tagged write.
std::map<std::string, std::string> routed(const testing::RecordingRelay& blue,
                                          const testing::RecordingRelay& green) {
  std::map<std::string, std::string> out;
  for (const auto& x : blue.exchanges()) {
    if (x.method != "GET" && !x.opaque_id.empty()) out[x.opaque_id] = "blue";
  }
  for (const auto& x : green.exchanges()) {
    if (x.method != "GET" && !x.opaque_id.empty()) out[x.opaque_id] = "green";
  }
  return out;
}

class CutoverE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = testing::unique_name("cut");
    dir_ = std::filesystem::temp_directory_path() / name_;
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    index_ = name_;
    topic_ = name_ + "-events";
    blue_ = std::make_unique<Cluster>(testing::blue_url());
    green_ = std::make_unique<Cluster>(testing::green_url());
    auto [bh, bp] = host_port(testing::blue_url());
    auto [gh, gp] = host_port(testing::green_url());
    blue_relay_ = std::make_unique<testing::RecordingRelay>(bh, bp);
    green_relay_ = std::make_unique<testing::RecordingRelay>(gh, gp);
    // The index on blue, with seed documents the backfill copies.
    ASSERT_EQ(blue_
                  ->req("PUT", "/" + index_,
                        R"({"settings":{"number_of_shards":2,"number_of_replicas":0}})")
                  .status,
              200);
    std::string bulk;
    for (int i = 0; i < kSeed; ++i) {
      bulk += R"({"index":{"_id":"seed-)" + std::to_string(i) + "\"}}\n" +
              json{{"seed", i}}.dump() + "\n";
    }
    ASSERT_EQ(blue_->req("POST", "/" + index_ + "/_bulk?refresh=true", bulk).status, 200);
  }

  void TearDown() override {
    for (pid_t p : loaders_) testing::stop(p, 5s);
    for (auto& p : proxies_) {
      if (p.pid > 0) testing::stop(p.pid, 5s);
    }
    blue_->req("DELETE", "/" + index_);
    green_->req("DELETE", "/" + index_);
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  void start_proxies(int n) {
    for (int i = 0; i < n; ++i) {
      ProxySpec s;
      s.primary_url = "http://127.0.0.1:" + std::to_string(blue_relay_->port());
      s.data_dir = (dir_ / ("proxy" + std::to_string(i))).string();
      if (file_log_) {
        s.log_dir = (dir_ / "log").string();
      } else {
        s.kafka_brokers = testing::kafka_brokers();
        s.topic = topic_;
      }
      s.config_yaml = "secondary:\n  name: green\n  url: http://127.0.0.1:" +
                      std::to_string(green_relay_->port()) + "\n";
      proxies_.push_back(start_proxy(s));
      ASSERT_GT(proxies_.back().pid, 0);
    }
  }

  std::string write_plan(const std::vector<std::string>& extra_admin = {},
                         const std::string& flip = "{drain: 5s, hold: 4s, catchup: 20s}") {
    std::string admin;
    for (const auto& p : proxies_) {
      admin += "\"http://127.0.0.1:" + std::to_string(p.admin_port) + "\", ";
    }
    for (const auto& a : extra_admin) admin += "\"" + a + "\", ";
    const std::string path = (dir_ / "plan.yaml").string();
    std::ofstream(path) << "name: " << name_ << "\n"
                        << "blue: {url: \"" << testing::blue_url() << "\"}\n"
                        << "green: {url: \"" << testing::green_url() << "\"}\n"
                        << (file_log_
                                ? std::string("log:\n  backend: file\n  dir: log\n")
                                : "log:\n  backend: kafka\n  kafka: {brokers: \"" +
                                      testing::kafka_brokers() + "\", topic: " + topic_ + "}\n")
                        << "  group: " << name_ << "-fwd\n  reverse_group: " << name_ << "-rev\n"
                        << "indices: [" << index_ << "]\n"
                        << "proxies:\n  admin: [" << admin << "]\n"
                        << "state: state.db\n"
                        << "gates: {max_lag: 100000, verify_max_age: 1h}\n"
                        << "flip: " << flip << "\n";
    return path;
  }

  struct Run {
    int rc = -1;
    std::string out;
  };
  Run tandem(std::vector<std::string> args,
             std::vector<std::pair<std::string, std::string>> env = {}) {
    static std::atomic<int> n{0};
    const std::string out = (dir_ / ("run" + std::to_string(n++) + ".out")).string();
    args.insert(args.begin(), testing::tandem_bin());
    testing::SpawnOptions so;
    so.env = std::move(env);
    pid_t pid = testing::spawn(args, out, so);
    Run r;
    r.rc = testing::wait_for(pid, 180s);
    r.out = testing::file_tail(out, 50000);
    return r;
  }

  pid_t start_loader(bool reverse) {
    std::vector<std::string> args = {testing::tandem_bin(),
                                     "load",
                                     "--blue",
                                     testing::blue_url(),
                                     "--green",
                                     testing::green_url(),
                                     "--group",
                                     name_ + (reverse ? "-rev" : "-fwd"),
                                     "--state",
                                     (dir_ / "state.db").string(),
                                     "--progress-s",
                                     "0",
                                     "--migration",
                                     name_};
    if (file_log_) {
      args.insert(args.end(), {"--log-dir", (dir_ / "log").string()});
    } else {
      args.insert(args.end(), {"--kafka", testing::kafka_brokers(), "--topic", topic_});
    }
    if (reverse) {
      args.push_back("--reverse");
    } else {
      args.insert(args.end(), {"--from", "blue"});
    }
    pid_t p = testing::spawn(args, (dir_ / (reverse ? "load-rev.out" : "load-fwd.out")).string());
    loaders_.push_back(p);
    return p;
  }

  json status(const std::string& plan) {
    auto r = tandem({"migrate", "status", plan, "--json"});
    EXPECT_EQ(r.rc, 0) << r.out;
    // The last line that is a JSON object (librdkafka may log on stderr).
    std::vector<std::string> lines;
    std::stringstream ss(r.out);
    for (std::string l; std::getline(ss, l);) lines.push_back(l);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (it->empty() || (*it)[0] != '{') continue;
      auto j = json::parse(*it, nullptr, false);
      if (!j.is_discarded() && j.is_object()) return j;
    }
    ADD_FAILURE() << "no JSON in: " << r.out;
    return json::object(
        {{"lag", json::object()}, {"proxies", json::array()}, {"flips", json::array()}});
  }

  // Waits until both loaders applied everything (bounded).
  void wait_lag_zero(const std::string& plan, bool reverse_too = true) {
    const auto deadline = Clock::now() + 60s;
    while (Clock::now() < deadline) {
      auto s = status(plan);
      if (s["lag"]["forward"] == 0 && (!reverse_too || s["lag"]["reverse"] == 0)) return;
      std::this_thread::sleep_for(300ms);
    }
    ADD_FAILURE() << "loaders did not reach lag 0 within 60 s: " << status(plan).dump();
  }

  // No write sent after flip i's decision (and before flip i+1 started)
  // reached flip i's old primary.
  void expect_fenced(const std::vector<Write>& ws, const json& flips) {
    auto where = routed(*blue_relay_, *green_relay_);
    std::vector<json> committed;
    for (const auto& f : flips) {
      if (f["step"] == "released") committed.push_back(f);
    }
    int violations = 0, checked = 0;
    for (size_t i = 0; i < committed.size(); ++i) {
      const int64_t from = committed[i]["decided_ms"].get<int64_t>();
      const int64_t until =
          i + 1 < committed.size() ? committed[i + 1]["started_ms"].get<int64_t>() : INT64_MAX;
      const std::string new_primary = committed[i]["to_primary"].get<std::string>();
      for (const auto& w : ws) {
        if (w.sent_ms <= from || w.sent_ms >= until) continue;
        auto it = where.find(w.tag);
        if (it == where.end()) continue;  // never forwarded (e.g. refused)
        ++checked;
        if (it->second != new_primary && violations++ < 5) {
          ADD_FAILURE() << "write " << w.tag << " sent " << (w.sent_ms - from)
                        << " ms after the decision of " << committed[i]["id"] << " reached "
                        << it->second << ", the old primary";
        }
      }
    }
    EXPECT_EQ(violations, 0);
    EXPECT_GT(checked, 0);
  }

  static constexpr int kSeed = 50;
  bool file_log_ = false;  // the embedded file log instead of Kafka
  std::string name_, index_, topic_;
  std::filesystem::path dir_;
  std::unique_ptr<Cluster> blue_, green_;
  std::unique_ptr<testing::RecordingRelay> blue_relay_, green_relay_;
  std::vector<ProxyProcess> proxies_;
  std::vector<pid_t> loaders_;
};

TEST_F(CutoverE2E, TwoProxiesCutoverRollbackCutoverUnderTraffic) {
  start_proxies(2);
  const std::string plan = write_plan();
  auto r = tandem({"migrate", "plan", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  start_loader(false);
  start_loader(true);
  std::vector<std::string> urls;
  for (const auto& p : proxies_) urls.push_back(p.url());
  Traffic traffic(urls, index_, 2);
  std::this_thread::sleep_for(2s);

  // Verify at rest (verify --quick compares versions at one epoch).
  traffic.pause();
  wait_lag_zero(plan);
  r = tandem({"migrate", "verify", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  traffic.resume();
  std::this_thread::sleep_for(1s);

  const std::vector<std::pair<std::string, std::string>> steps = {
      {"cutover", "green"}, {"rollback", "blue"}, {"cutover", "green"}};
  for (const auto& [cmd, primary] : steps) {
    r = tandem({"migrate", cmd, plan});
    ASSERT_EQ(r.rc, 0) << cmd << ":\n" << r.out;
    std::cerr << r.out;
    std::this_thread::sleep_for(2s);  // traffic on the new primary
    traffic.pause();
    wait_lag_zero(plan);
    auto s = status(plan);
    EXPECT_EQ(s["primary"], primary);
    for (const auto& p : s["proxies"]) {
      EXPECT_EQ(p["status"]["roles"]["primary"]["name"], primary) << p.dump();
    }
    expect_content(*blue_, *green_, index_, expected_state(traffic.writes()), kSeed,
                   "after " + cmd + " to " + primary);
    // Verify across epochs: the follower holds versions from two regimes;
    // quick and deep both find parity (no false alarm), and the verify
    // counts for the next flip's gate.
    r = tandem({"migrate", "verify", plan});
    EXPECT_EQ(r.rc, 0) << "verify after " << cmd << ":\n" << r.out;
    EXPECT_NE(r.out.find("PARITY"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(primary == "green" ? "green -> blue" : "blue -> green"), std::string::npos)
        << r.out;
    traffic.resume();
  }
  traffic.stop();
  const auto ws = traffic.writes();
  const auto e = expected_state(ws);
  EXPECT_EQ(e.failed, 0) << "client writes failed during the flips";
  auto s = status(plan);
  ASSERT_EQ(s["flips"].size(), 3u) << s.dump();
  const json flips = s["flips"];
  expect_fenced(ws, flips);
  for (const auto& f : s["flips"]) {
    EXPECT_EQ(f["step"], "released");
    for (const auto& p : f["proxies"]) EXPECT_GE(p["held_us"].get<int64_t>(), 0);
  }
  std::cerr << "writes: " << ws.size() << ", failed: " << e.failed << "\n";

  // finalize: a last parity check each way, the loaders stop on their own
  // and acknowledge, the end is recorded; a re-run prints the summary.
  r = tandem({"migrate", "finalize", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("parity green -> blue: quick 100.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parity blue -> green: quick 100.00%"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("NOT AT PARITY"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("did not acknowledge"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("events applied reverse (green -> blue)"), std::string::npos) << r.out;
  for (pid_t p : loaders_) EXPECT_EQ(testing::wait_for(p, 20s), 0) << "loader exit";
  loaders_.clear();
  EXPECT_EQ(status(plan)["phase"], "finalized");
  r = tandem({"migrate", "finalize", plan});
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("write pauses:"), std::string::npos) << r.out;
}

TEST_F(CutoverE2E, FailuresAbortOrResumeCleanly) {
  start_proxies(2);
  // A third proxy that does not answer: prepare fails, the flip aborts.
  const std::string dead = "http://127.0.0.1:" + std::to_string(testing::free_port());
  std::string plan = write_plan();
  auto r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  start_loader(false);
  std::vector<std::string> urls;
  for (const auto& p : proxies_) urls.push_back(p.url());
  Traffic traffic(urls, index_, 2);
  std::this_thread::sleep_for(1s);
  traffic.pause();
  wait_lag_zero(plan, false);
  ASSERT_EQ(tandem({"migrate", "verify", plan}).rc, 0);
  traffic.resume();

  {
    plan = write_plan({dead});
    r = tandem({"migrate", "cutover", plan});
    EXPECT_EQ(r.rc, 2) << r.out;  // aborted: the dead proxy
    EXPECT_NE(r.out.find("ABORTED"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(dead), std::string::npos) << r.out;
    auto s = status(plan);
    EXPECT_EQ(s["phase"], "verified");
    EXPECT_EQ(s["epoch"], 0);
    for (const auto& p : s["proxies"]) {
      if (p.contains("status")) {
        EXPECT_EQ(p["status"]["roles"]["primary"]["name"], "blue");
        EXPECT_EQ(p["status"]["flip"]["step"], "aborted");
      }
    }
  }
  plan = write_plan();  // without the dead proxy from here on

  // kill -9 of the coordinator after prepare: the proxies hold; a re-run
  // finds the flip before its decision and aborts it.
  r = tandem({"migrate", "cutover", plan}, {{"TANDEM_MIGRATE_CRASH_AT", "prepared"}});
  EXPECT_EQ(r.rc, 137) << r.out;
  {
    auto s = status(plan);
    EXPECT_FALSE(s["flip_in_progress"].is_null()) << s.dump();
    for (const auto& p : s["proxies"]) EXPECT_EQ(p["status"]["flip"]["step"], "prepared");
  }
  // A second cutover while one is in flight... is this one: the dead
  // holder's lock is taken over and its flip aborted.
  r = tandem({"migrate", "cutover", plan});
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("before a decision"), std::string::npos) << r.out;
  EXPECT_EQ(status(plan)["primary"], "blue");

  // With the loader stopped under traffic, the pre-drain refuses the flip
  // before any write is held (the proxies never see a prepare).
  for (pid_t p : loaders_) testing::stop(p, 5s);
  loaders_.clear();
  plan = write_plan({}, "{drain: 5s, hold: 20s, catchup: 4s, predrain: 2s, predrain_lag: 0}");
  r = tandem({"migrate", "cutover", plan});
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("pre-drain"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no write was held"), std::string::npos) << r.out;
  EXPECT_EQ(status(plan)["primary"], "blue");

  // A concurrent cutover is refused while the first waits for a loader
  // that is stopped (it then aborts: catch-up timeout; the pre-drain is
  // told to let it through).
  plan = write_plan({}, "{drain: 5s, hold: 20s, catchup: 4s, predrain_lag: 100000000}");
  testing::SpawnOptions so;
  pid_t first = testing::spawn({testing::tandem_bin(), "migrate", "cutover", plan},
                               (dir_ / "first.out").string(), so);
  std::this_thread::sleep_for(1500ms);
  r = tandem({"migrate", "cutover", plan});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("another `tandem migrate`"), std::string::npos) << r.out;
  EXPECT_EQ(testing::wait_for(first, 60s), 2) << testing::file_tail((dir_ / "first.out").string());
  EXPECT_NE(testing::file_tail((dir_ / "first.out").string()).find("did not reach the fence"),
            std::string::npos);
  EXPECT_EQ(status(plan)["primary"], "blue");
  start_loader(false);

  // kill -9 after the commit decision: the proxies hold past their bound,
  // read the decision from the control channel and commit on their own;
  // the re-run confirms.
  plan = write_plan({}, "{drain: 5s, hold: 2s, catchup: 20s}");
  r = tandem({"migrate", "cutover", plan}, {{"TANDEM_MIGRATE_CRASH_AT", "committed"}});
  EXPECT_EQ(r.rc, 137) << r.out;
  const auto deadline = Clock::now() + 30s;
  bool self_committed = false;
  while (Clock::now() < deadline && !self_committed) {
    self_committed = true;
    for (const auto& p : proxies_) {
      auto st = json::parse(admin_status(p), nullptr, false);
      self_committed &= !st.is_discarded() && st["roles"]["primary"]["name"] == "green";
    }
    if (!self_committed) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(self_committed) << "the proxies did not read the commit from the control channel";
  r = tandem({"migrate", "cutover", plan});
  EXPECT_EQ(r.rc, 0) << r.out;
  auto s = status(plan);
  EXPECT_EQ(s["phase"], "cut-over");
  EXPECT_EQ(s["epoch"], 1);
  traffic.stop();
  // Writes held past the bound were answered 503 (retryable); none was lost.
  const auto e = expected_state(traffic.writes());
  for (const auto& w : traffic.writes()) {
    EXPECT_TRUE(w.status == 0 || w.status < 500 || w.status == 503) << w.tag << " " << w.status;
  }
  start_loader(true);
  wait_lag_zero(plan);
  expect_content(*blue_, *green_, index_, e, kSeed, "after the resumed cutover");
}

// The embedded defaults on one machine: one proxy on the file log, the
// control channel a file log next to it.
TEST_F(CutoverE2E, FileLogCutoverAndRollback) {
  file_log_ = true;
  start_proxies(1);
  const std::string plan = write_plan();
  auto r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  start_loader(false);
  start_loader(true);
  Traffic traffic({proxies_[0].url()}, index_, 2);
  std::this_thread::sleep_for(1s);
  traffic.pause();
  wait_lag_zero(plan);
  r = tandem({"migrate", "verify", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  traffic.resume();
  for (const auto& [cmd, primary] : std::vector<std::pair<std::string, std::string>>{
           {"cutover", "green"}, {"rollback", "blue"}}) {
    r = tandem({"migrate", cmd, plan});
    ASSERT_EQ(r.rc, 0) << cmd << ":\n" << r.out;
    std::this_thread::sleep_for(1s);
    traffic.pause();
    wait_lag_zero(plan);
    EXPECT_EQ(status(plan)["primary"], primary);
    expect_content(*blue_, *green_, index_, expected_state(traffic.writes()), kSeed,
                   "file log, after " + cmd);
    r = tandem({"migrate", "verify", plan});  // the next flip's verify gate
    EXPECT_EQ(r.rc, 0) << r.out;
    traffic.resume();
  }
  traffic.stop();
  EXPECT_EQ(expected_state(traffic.writes()).failed, 0);
  expect_fenced(traffic.writes(), status(plan)["flips"]);
}

}  // namespace
}  // namespace tandem::e2e

namespace tandem::e2e {
namespace {

// Reverse replication meets a target that cannot take a change: blue (ES
// 7.17) refuses an 8.x-only mapping green accepted, and a document green
// accepted that blue's (drifted, strict) mapping refuses. Both are parked
// as dead letters -- nothing is dropped silently -- and `status` and the
// gates show them, so the rollback is refused. A write green itself
// refuses is refused to the client and never replicated.
TEST_F(CutoverE2E, ReverseRejectionsAreDeadLettersAndFailTheGates) {
  start_proxies(1);
  const std::string plan = write_plan();
  auto r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  start_loader(false);
  start_loader(true);
  wait_lag_zero(plan);
  ASSERT_EQ(tandem({"migrate", "verify", plan}).rc, 0);
  r = tandem({"migrate", "cutover", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  auto proxy = client_for(proxies_[0].url());

  // 1. A write green refuses: 400 to the client, nothing captured.
  auto bad = send_tagged(*proxy, "bad-1", "PUT", "/" + index_ + "/_doc/bad-1", "{not json");
  ASSERT_TRUE(bad.is_ok());
  EXPECT_GE(bad->status, 400);
  EXPECT_LT(bad->status, 500);

  // 2a. An 8.x mapping 7.x can express once converted (the reverse
  // transform drops synthetic_source_keep and subobjects=true, which blue
  // 7.17 refuses as unknown parameters): it reaches blue, converted.
  auto m0 = send_tagged(
      *proxy, "meta-0", "PUT", "/" + index_ + "/_mapping",
      R"({"properties":{"tags":{"type":"keyword","synthetic_source_keep":"arrays"},)"
      R"("attrs":{"type":"object","subobjects":true,"properties":{"color":{"type":"keyword"}}}}})");
  ASSERT_TRUE(m0.is_ok());
  ASSERT_EQ(m0->status, 200) << m0->body;
  wait_lag_zero(plan);
  {
    auto bm = json::parse(blue_->req("GET", "/" + index_ + "/_mapping").body, nullptr, false);
    const json& props = bm[index_]["mappings"]["properties"];
    EXPECT_EQ(props["tags"], json({{"type", "keyword"}})) << bm.dump();
    EXPECT_EQ(props["attrs"]["properties"]["color"], json({{"type", "keyword"}})) << bm.dump();
    EXPECT_EQ(status(plan)["dead_letters"], 0);
  }

  // 2b. An 8.x mapping 7.x cannot express (dense_vector indexed for kNN:
  // 7.x has no kNN index): green takes it; the reverse transform refuses it
  // for blue, naming cluster, index and field, and it becomes a dead letter.
  auto m = send_tagged(
      *proxy, "meta-1", "PUT", "/" + index_ + "/_mapping",
      R"({"properties":{"emb":{"type":"dense_vector","dims":3,"index":true,"similarity":"cosine"}}})");
  ASSERT_TRUE(m.is_ok());
  ASSERT_EQ(m->status, 200) << m->body;

  // 3. Blue drifted (strict mapping set on the follower directly): a
  // document with a new field is fine on green, refused by blue.
  ASSERT_EQ(blue_->req("PUT", "/" + index_ + "/_mapping", R"({"dynamic":"strict"})").status, 200);
  auto d = send_tagged(*proxy, "doc-1", "PUT", "/" + index_ + "/_doc/drift-1",
                       R"({"brand_new_field":"x"})");
  ASSERT_TRUE(d.is_ok());
  ASSERT_LT(d->status, 300) << d->body;

  // Both loaders settle everything (dead letters are settled), so the lag
  // reaches 0; then the dead letters show in status and fail the gate.
  wait_lag_zero(plan);
  auto s = status(plan);
  EXPECT_GE(s["dead_letters"].get<int64_t>(), 2) << s.dump();
  bool gate_failed = false;
  for (const auto& g : s["gates"]) {
    if (g["gate"] == "dead-letters") gate_failed = !g["passed"].get<bool>();
  }
  EXPECT_TRUE(gate_failed) << s.dump();
  auto txt = tandem({"migrate", "status", plan});
  EXPECT_NE(txt.out.find("DEAD LETTERS:"), std::string::npos) << txt.out;
  r = tandem({"migrate", "rollback", plan});
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("gate 'dead-letters'"), std::string::npos) << r.out;
  EXPECT_EQ(status(plan)["primary"], "green");

  // The refused write reached no cluster; the parked document is on green
  // only (explained by its dead letter, not lost: `tandem dlq` holds it).
  EXPECT_FALSE(green_->source(index_, "bad-1").has_value());
  EXPECT_FALSE(blue_->source(index_, "bad-1").has_value());
  EXPECT_TRUE(green_->source(index_, "drift-1").has_value());
  EXPECT_FALSE(blue_->source(index_, "drift-1").has_value());
  auto dl = tandem({"dlq", "list", "--state", (dir_ / "state.db").string()});
  EXPECT_NE(dl.out.find("drift-1"), std::string::npos) << dl.out;
  EXPECT_NE(dl.out.find("meta"), std::string::npos) << dl.out;
  // The refusal names the cluster, the index and the offending key.
  for (const std::string& part : {std::string("cluster 'blue'"), "index '" + index_ + "'",
                                  std::string("field 'emb': dense_vector parameter 'index'")}) {
    EXPECT_NE(dl.out.find(part), std::string::npos) << part << " in " << dl.out;
  }
}

// The alias guard: an index outside the plan put under the plan index's
// alias on the new primary is reported by status and fails the gate.
TEST_F(CutoverE2E, AliasGuardReportsAnIndexOutsideThePlanAtOnce) {
  start_proxies(1);
  const std::string plan = write_plan();
  ASSERT_EQ(blue_
                ->req("POST", "/_aliases",
                      R"({"actions":[{"add":{"index":")" + index_ + R"(","alias":")" + index_ +
                          R"(-all"}}]})")
                .status,
            200);
  auto r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  start_loader(false);
  start_loader(true);
  wait_lag_zero(plan);
  ASSERT_EQ(tandem({"migrate", "verify", plan}).rc, 0);
  r = tandem({"migrate", "cutover", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  auto s = status(plan);
  EXPECT_EQ(s["alias_guard"], "") << s.dump();
  // Someone creates a second index on green and adds it to the alias.
  const std::string dup = index_ + "-dup";
  ASSERT_EQ(
      green_
          ->req("PUT", "/" + dup,
                R"({"settings":{"number_of_replicas":0},"aliases":{")" + index_ + R"(-all":{}}})")
          .status,
      200);
  s = status(plan);
  EXPECT_NE(s["alias_guard"].get<std::string>().find(dup), std::string::npos) << s.dump();
  bool gate_failed = false;
  for (const auto& g : s["gates"]) {
    if (g["gate"] == "alias-guard") gate_failed = !g["passed"].get<bool>();
  }
  EXPECT_TRUE(gate_failed) << s.dump();
  auto txt = tandem({"migrate", "status", plan});
  EXPECT_NE(txt.out.find("ALIAS GUARD:"), std::string::npos) << txt.out;
  green_->req("DELETE", "/" + dup);
  EXPECT_EQ(status(plan)["alias_guard"], "");
}

// `migrate start` killed with -9 after it recorded the end marks (before
// the backfill) and again after the backfill (before it recorded it): each
// re-run resumes, and the migration converges to parity under traffic.
TEST_F(CutoverE2E, StartResumesAfterKill9) {
  start_proxies(1);
  const std::string plan = write_plan();
  Traffic traffic({proxies_[0].url()}, index_, 1);
  auto r = tandem({"migrate", "start", plan}, {{"TANDEM_MIGRATE_CRASH_AT", "copying"}});
  ASSERT_EQ(r.rc, 137) << r.out;
  EXPECT_EQ(status(plan)["phase"], "copying");
  r = tandem({"migrate", "start", plan}, {{"TANDEM_MIGRATE_CRASH_AT", "copied"}});
  ASSERT_EQ(r.rc, 137) << r.out;
  EXPECT_EQ(status(plan)["phase"], "copying");
  r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(status(plan)["phase"], "converging");
  start_loader(false);
  std::this_thread::sleep_for(1s);
  traffic.pause();
  wait_lag_zero(plan, false);
  r = tandem({"migrate", "verify", plan});
  EXPECT_EQ(r.rc, 0) << r.out;
  traffic.stop();
  expect_content(*blue_, *green_, index_, expected_state(traffic.writes()), kSeed,
                 "after start resumed twice");
}

// `migrate start` killed with -9 in the middle of the backfill (not at a
// step it saved): the copy is throttled so the kill lands while pages are
// being written. The re-run resumes from the slices' checkpoints (the
// summary says "(resumed)"), ends at 100% parity by content and version,
// and nothing copied twice does harm: every copy carries the external
// version of blue's _seq_no, so a page written again is a no-op (409).
TEST_F(CutoverE2E, StartKilledMidBackfillResumesFromCheckpoints) {
  constexpr int kMore = 6000;
  std::string bulk;
  for (int i = 0; i < kMore; ++i) {
    bulk += R"({"index":{"_id":"bulk-)" + std::to_string(i) + "\"}}\n" +
            json{{"n", i}, {"pad", std::string(64, 'x')}}.dump() + "\n";
  }
  ASSERT_EQ(blue_->req("POST", "/" + index_ + "/_bulk?refresh=true", bulk).status, 200);
  start_proxies(1);
  const std::string plan = write_plan();
  // ~6,000 documents at 1,500/s: the copy takes about 4 s.
  std::ofstream(plan, std::ios::app) << "backfill: {slices: 2, batch_size: 100, throttle: 1500}\n";
  Traffic traffic({proxies_[0].url()}, index_, 1);
  const std::string out1 = (dir_ / "start-1.out").string();
  pid_t p = testing::spawn({testing::tandem_bin(), "migrate", "start", plan}, out1);
  ASSERT_GT(p, 0);
  // Kill once green holds part of the copy (bounded wait).
  int64_t copied = 0;
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    copied = green_->count(index_);
    if (copied >= 1000) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GE(copied, 1000) << testing::file_tail(out1);
  ASSERT_EQ(::kill(p, SIGKILL), 0);
  EXPECT_EQ(testing::wait_for(p, 10s), 128 + SIGKILL);
  const int64_t at_kill = green_->count(index_);
  EXPECT_LT(at_kill, kMore + kSeed) << "the backfill finished before the kill";
  auto s = status(plan);
  EXPECT_EQ(s["phase"], "copying") << s.dump();
  EXPECT_TRUE(s["backfill"]["done"].is_null()) << s.dump();

  auto r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("(resumed)"), std::string::npos) << r.out;
  EXPECT_EQ(status(plan)["phase"], "converging");
  start_loader(false);
  std::this_thread::sleep_for(1s);
  traffic.pause();
  wait_lag_zero(plan, false);
  r = tandem({"migrate", "verify", plan});
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("quick 100.00%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("content 100.00%"), std::string::npos) << r.out;
  traffic.stop();
  expect_content(*blue_, *green_, index_, expected_state(traffic.writes()), kSeed + kMore,
                 "after start was killed mid-backfill and resumed");
}

// scripts/services of this checkout (TANDEM_REPO_ROOT, else derived from
// this file's path), to stop and start Kafka; empty if not found.
std::string services_script() {
  std::filesystem::path root;
  if (const char* r = std::getenv("TANDEM_REPO_ROOT"); r && *r) {
    root = r;
  } else {
    root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  }
  const auto script = root / "scripts" / "services";
  return std::filesystem::exists(script) ? std::filesystem::absolute(script).string() : "";
}

// Kafka goes down while the coordinator waits for the loader to reach the
// fence (every proxy prepared, writes held): the flip cannot read the fence
// or record a decision, so it aborts and releases the proxies to blue (no
// commit was ever attempted, docs/cutover.md). Writes fail closed while
// Kafka is down (refused, never acknowledged-and-lost); when it is back the
// same plan cuts over, and both clusters hold every acknowledged write.
TEST_F(CutoverE2E, KafkaDownDuringTheFlipAbortsAndLosesNothing) {
  const std::string svc = services_script();
  ASSERT_FALSE(svc.empty()) << "no scripts/services to stop Kafka: set TANDEM_REPO_ROOT";
  start_proxies(2);
  std::string plan = write_plan({}, "{drain: 5s, hold: 30s, catchup: 6s}");
  auto r = tandem({"migrate", "start", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  std::vector<std::string> urls;
  for (const auto& p : proxies_) urls.push_back(p.url());
  Traffic traffic(urls, index_, 2);
  std::this_thread::sleep_for(1s);
  traffic.pause();
  start_loader(false);
  wait_lag_zero(plan, false);
  ASSERT_EQ(tandem({"migrate", "verify", plan}).rc, 0);
  // The forward loader stops so the catch-up waits; the flip runs in the
  // background while Kafka goes down under it.
  for (pid_t p : loaders_) testing::stop(p, 5s);
  loaders_.clear();
  traffic.resume();
  testing::SpawnOptions so;
  pid_t flip = testing::spawn({testing::tandem_bin(), "migrate", "cutover", plan},
                              (dir_ / "flip.out").string(), so);
  std::this_thread::sleep_for(1500ms);
  struct KafkaBack {
    std::string svc;
    ~KafkaBack() { (void)std::system(("'" + svc + "' up kafka >/dev/null 2>&1").c_str()); }
  } back{svc};
  ASSERT_EQ(std::system(("'" + svc + "' down kafka >/dev/null 2>&1").c_str()), 0);
  const int rc = testing::wait_for(flip, 120s);
  const std::string out = testing::file_tail((dir_ / "flip.out").string(), 20000);
  EXPECT_EQ(rc, 2) << out;  // aborted
  EXPECT_NE(out.find("ABORTED"), std::string::npos) << out;
  ASSERT_EQ(std::system(("'" + svc + "' up kafka >/dev/null 2>&1").c_str()), 0);
  // Roles unchanged on every proxy: blue, epoch 0, the flip aborted.
  for (const auto& p : proxies_) {
    auto st = json::parse(admin_status(p), nullptr, false);
    ASSERT_FALSE(st.is_discarded());
    EXPECT_EQ(st["roles"]["primary"]["name"], "blue") << st.dump();
    EXPECT_EQ(st["roles"]["epoch"], 0) << st.dump();
  }
  // Kafka is back: the proxies capture again, the loader catches up, and
  // the same plan cuts over.
  start_loader(false);
  start_loader(true);
  std::this_thread::sleep_for(2s);
  traffic.pause();
  wait_lag_zero(plan);
  r = tandem({"migrate", "verify", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  traffic.resume();
  plan = write_plan();
  r = tandem({"migrate", "cutover", plan});
  ASSERT_EQ(r.rc, 0) << r.out;
  std::this_thread::sleep_for(1s);
  traffic.stop();
  wait_lag_zero(plan);
  EXPECT_EQ(status(plan)["primary"], "green");
  const auto ws = traffic.writes();
  const auto e = expected_state(ws);
  // Refused while Kafka was down (fail closed), never acknowledged.
  for (const auto& w : ws) {
    EXPECT_TRUE(w.status == 0 || w.status < 500 || w.status == 503) << w.tag << " " << w.status;
  }
  expect_content(*blue_, *green_, index_, e, kSeed, "after Kafka came back and the cutover");
  expect_fenced(ws, status(plan)["flips"]);
  std::cerr << "writes: " << ws.size() << ", refused while Kafka was down: " << e.failed << "\n";
}

}  // namespace
}  // namespace tandem::e2e
