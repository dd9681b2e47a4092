// kill -9 of `tandem load` and `tandem backfill` at random points, again and
// again, while blue takes writes; after the last restart green must equal
// blue (ids, versions, sources). Uses the built binary: TANDEM_BIN, default
// <repo>/build/tandem.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <thread>

#include "load/it_util.h"
#include "log/log.h"
#include "support/process.h"
#include "support/services.h"

namespace tandem::backfill {
namespace {

using namespace tandem::load::it;
using Clock = std::chrono::steady_clock;
using tandem::testing::spawn;
using tandem::testing::tandem_bin;
using tandem::testing::wait_for;

std::string tail(const std::string& path) {
  return tandem::testing::file_tail(path);
}

TEST(CrashIt, KillNineLoaderAndBackfillRepeatedlyEndsAtParity) {
  std::string bin = tandem_bin();
  ASSERT_TRUE(std::filesystem::exists(bin))
      << "tandem binary not found at " << bin << ": build it or set TANDEM_BIN";
  auto blue = connect_or_die("blue", tandem::testing::blue_url());
  auto green = connect_or_die("green", tandem::testing::green_url());
  ASSERT_TRUE(blue && green);
  std::string idx = tandem::testing::unique_name("crash-it");
  auto tmp = std::filesystem::temp_directory_path() / idx;
  std::filesystem::create_directories(tmp);
  std::string state = (tmp / "state.db").string();
  std::string out = (tmp / "children.log").string();
  nlohmann::json body = {{"settings", {{"number_of_shards", 3}, {"number_of_replicas", 0}}}};
  ASSERT_TRUE(blue->create_index(IndexName(idx), body).is_ok());
  body["settings"]["index.gc_deletes"] = "1h";
  ASSERT_TRUE(green->create_index(IndexName(idx), body).is_ok());
  es::BulkBuilder bb;
  for (int i = 0; i < 6000; ++i) {
    bb.index(
        IndexName(idx), DocId("id" + std::to_string(i)),
        R"({"i":)" + std::to_string(i) + R"(,"pad":"0123456789012345678901234567890123456789"})");
    if (bb.size() == 1000) {
      auto r = blue->bulk(bb);
      ASSERT_TRUE(r.is_ok() && !r->errors);
      bb.clear();
    }
  }
  ASSERT_TRUE(blue->refresh(IndexName(idx)).is_ok());

  log::KafkaLogOptions ko;
  ko.brokers = tandem::testing::kafka_brokers();
  ko.topic = idx + "-topic";
  ko.partitions = 4;
  auto log = log::open_kafka_log(ko);
  ASSERT_TRUE(log.is_ok()) << "Kafka at " << ko.brokers << ": " << log.status().to_string();

  // Live traffic (as the proxy would capture it) for the whole crash phase.
  std::atomic<bool> writing{true};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    std::mt19937 rng(9);
    while (writing) {
      std::string id = "id" + std::to_string(rng() % 6500);
      bool del = rng() % 5 == 0;
      event::ChangeEvent e;
      if (del) {
        auto w = blue->delete_doc(IndexName(idx), DocId(id));
        if (!w.is_ok()) continue;
        e = event_from(idx, id, *w, true, "");
      } else {
        std::string src = R"({"w":)" + std::to_string(writes.load()) + "}";
        auto w = blue->index_doc(IndexName(idx), DocId(id), src);
        if (!w.is_ok()) continue;
        e = event_from(idx, id, *w, false, src);
      }
      (*log)->append({log::AppendRecord{event::partition_key(e), event::encode(e), {}}});
      ++writes;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    (void)(*log)->flush(std::chrono::seconds(30));
  });

  std::string group = idx + "-group";
  std::vector<std::string> common = {"--blue",       tandem::testing::blue_url(),
                                     "--green",      tandem::testing::green_url(),
                                     "--state",      state,
                                     "--kafka",      ko.brokers,
                                     "--topic",      ko.topic,
                                     "--partitions", "4"};
  auto load_args = [&](bool until_zero) {
    std::vector<std::string> a{bin, "load"};
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), {"--group", group, "--progress-s", "1"});
    if (until_zero) a.push_back("--until-lag-zero");
    return a;
  };
  auto backfill_args = [&](bool throttled) {
    std::vector<std::string> a{bin, "backfill"};
    a.insert(a.end(), common.begin(), common.end());
    a.insert(a.end(), {"--index", idx, "--slices", "3", "--job", "crash", "--batch", "200",
                       "--progress-s", "1"});
    if (throttled) a.insert(a.end(), {"--throttle", "1500"});
    return a;
  };

  std::mt19937 rng(std::random_device{}());
  auto deadline = Clock::now() + std::chrono::seconds(240);
  int kills = 0;
  pid_t loader = spawn(load_args(false), out);
  pid_t bf = spawn(backfill_args(true), out);
  bool backfill_finished = false;
  for (int round = 0; round < 14 && Clock::now() < deadline; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    bool kill_loader = (round % 2 == 0) || backfill_finished;
    if (kill_loader) {
      ::kill(loader, SIGKILL);
      ::waitpid(loader, nullptr, 0);
      ++kills;
      loader = spawn(load_args(false), out);
    } else {
      int st = 0;
      if (::waitpid(bf, &st, WNOHANG) == bf) {
        backfill_finished = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (!backfill_finished) bf = spawn(backfill_args(true), out);
        continue;
      }
      ::kill(bf, SIGKILL);
      ::waitpid(bf, nullptr, 0);
      ++kills;
      bf = spawn(backfill_args(true), out);
    }
  }
  writing = false;
  writer.join();
  EXPECT_GE(kills, 10) << "only " << kills << " kill -9 rounds fit in the time bound";
  // Last backfill run unthrottled to completion; the loader until lag 0.
  ::kill(bf, SIGKILL);
  ::waitpid(bf, nullptr, 0);
  int rc = wait_for(spawn(backfill_args(false), out), std::chrono::seconds(300));
  ASSERT_EQ(rc, 0) << "final backfill failed:\n" << tail(out);
  ::kill(loader, SIGKILL);
  ::waitpid(loader, nullptr, 0);
  rc = wait_for(spawn(load_args(true), out), std::chrono::seconds(300));
  ASSERT_EQ(rc, 0) << "final load failed:\n" << tail(out);
  std::string diff = parity(*blue, *green, idx);
  EXPECT_EQ(diff, "") << "after " << kills << " kills and " << writes << " live writes\n"
                      << tail(out);
  std::cerr << "crash test: " << kills << " kill -9, " << writes << " live writes\n";
  (void)blue->delete_index(IndexName(idx));
  (void)green->delete_index(IndexName(idx));
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace tandem::backfill
