// The Kafka broker restarts in the middle of a produce burst: the producer
// rides it out on its own, and no acknowledged record is lost.
//
// The restart is a shell command: TANDEM_KAFKA_RESTART_CMD, else
// "<repo>/scripts/services restart kafka" (repo from TANDEM_REPO_ROOT, else
// derived from this file's path). If neither exists the test fails -- it
// never skips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"
#include "support/services.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string restart_command() {
  if (const char* cmd = std::getenv("TANDEM_KAFKA_RESTART_CMD"); cmd && *cmd) return cmd;
  std::filesystem::path root;
  if (const char* r = std::getenv("TANDEM_REPO_ROOT"); r && *r) {
    root = r;
  } else {
    root = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
  }
  const auto script = root / "scripts" / "services";
  if (!std::filesystem::exists(script)) return {};
  return "'" + script.string() + "' restart kafka";
}

TEST(KafkaFault, BrokerRestartDuringProduceBurstLosesNoAcknowledgedRecord) {
  const std::string restart = restart_command();
  ASSERT_FALSE(restart.empty())
      << "no way to restart Kafka: set TANDEM_KAFKA_RESTART_CMD, or TANDEM_REPO_ROOT to a "
         "checkout with scripts/services";

  std::mutex mu;
  std::set<std::string> acked;
  std::vector<std::string> failures;
  std::atomic<int> appended{0};
  std::atomic<bool> stop{false};

  // Declared after the state its callbacks touch, so it is destroyed first.
  KafkaLogOptions o;
  o.brokers = testing::kafka_brokers();
  o.topic = testing::unique_name("tandem-fault");
  o.partitions = 3;
  o.replication = 1;
  auto opened = open_kafka_log(o);
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  std::unique_ptr<Log> log = std::move(opened).value();

  // ~2000 records/s in batches of 20 over 10 keys, until told to stop.
  std::thread producer([&] {
    for (int batch = 0; !stop.load(); ++batch) {
      std::vector<AppendRecord> recs;
      for (int i = 0; i < 20; ++i) {
        const int n = batch * 20 + i;
        std::string key = "k" + std::to_string(n % 10);
        std::string value = key + ":" + std::to_string(n);
        recs.push_back(AppendRecord{key, value, [&, value](const Status& s, Partition, Offset) {
                                      std::lock_guard<std::mutex> l(mu);
                                      if (s.is_ok()) {
                                        acked.insert(value);
                                      } else {
                                        failures.push_back(s.to_string());
                                      }
                                    }});
      }
      appended += 20;
      log->append(std::move(recs));
      std::this_thread::sleep_for(10ms);
    }
  });

  std::this_thread::sleep_for(3s);
  const int before_restart = appended.load();
  const auto t0 = Clock::now();
  const int rc = std::system(restart.c_str());
  const auto restart_took = Clock::now() - t0;
  // Keep producing after the broker is back, then stop.
  if (rc == 0) std::this_thread::sleep_for(5s);
  stop = true;
  producer.join();
  ASSERT_EQ(rc, 0) << "restart command failed: " << restart;
  const int total = appended.load();
  std::printf("appended %d records (%d before the restart), restart took %lld ms\n", total,
              before_restart, static_cast<long long>(restart_took / 1ms));

  Status f = log->flush(150s);
  ASSERT_TRUE(f.is_ok()) << f.to_string();
  {
    std::lock_guard<std::mutex> l(mu);
    EXPECT_TRUE(failures.empty()) << failures.size() << " record(s) failed, first: "
                                  << (failures.empty() ? "" : failures.front());
    EXPECT_EQ(acked.size() + failures.size(), static_cast<size_t>(total));
  }

  // New appends after the restart are acknowledged too.
  std::atomic<bool> late_ok{false};
  log->append({AppendRecord{"late", "late",
                            [&](const Status& s, Partition, Offset) { late_ok = s.is_ok(); }}});
  ASSERT_TRUE(log->flush(60s).is_ok());
  EXPECT_TRUE(late_ok.load());

  auto consumer = log->consumer(testing::unique_name("fault"));
  ASSERT_TRUE(consumer.is_ok()) << consumer.status().to_string();
  std::multiset<std::string> consumed;
  std::map<std::string, int> last_seq;
  size_t out_of_order = 0;
  const auto deadline = Clock::now() + 60s;
  while (consumed.size() < acked.size() + 1 && Clock::now() < deadline) {
    auto r = (*consumer)->poll(5000, 500ms);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    for (const Record& rec : r.value()) {
      consumed.insert(rec.value);
      if (rec.key == "late") continue;
      const int seq = std::stoi(rec.value.substr(rec.value.find(':') + 1));
      auto it = last_seq.find(rec.key);
      if (it != last_seq.end() && seq <= it->second) ++out_of_order;
      last_seq[rec.key] = seq;
    }
  }
  size_t missing = 0;
  std::string first_missing;
  for (const std::string& v : acked) {
    if (!consumed.count(v) && missing++ == 0) first_missing = v;
  }
  EXPECT_EQ(missing, 0u) << "acknowledged but not in the log, e.g. " << first_missing;
  size_t duplicates =
      consumed.size() - std::set<std::string>(consumed.begin(), consumed.end()).size();
  EXPECT_EQ(duplicates, 0u) << "the idempotent producer wrote duplicates";
  EXPECT_EQ(out_of_order, 0u) << "records of one key out of append order";
  std::printf("acknowledged %zu, consumed %zu, duplicates %zu\n", acked.size(), consumed.size(),
              duplicates);
}

}  // namespace
}  // namespace tandem::log
