// Mappings before documents, end to end (issue 14, item 1): a mapping
// change captured by the real `tandem proxy` in front of blue (ES 7.17)
// lands in its index's partition, the documents that need it in others
// (Kafka or the file log). A loader of the group that reads only the
// documents' partitions (the loader holding the meta's partition is
// paused) applies them to green (ES 8.x) first:
//   - a strict index: the documents use a field added by PUT _mapping;
//   - a dynamic index: blue mapped `n` as long from its first value (5),
//     and the document read first has 5.5, which green's own dynamic
//     mapping would map as float without any error.
// Green ends with blue's mappings and every document, no dead letter, and
// `tandem verify --deep` finds parity once the paused loader has caught up.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "apply/apply.h"
#include "e2e/harness.h"
#include "event/event.h"
#include "load/it_util.h"
#include "load/load.h"
#include "state/state.h"
#include "support/process.h"
#include "support/services.h"

namespace tandem::e2e {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The paused loader's partitions are not this consumer's: it never returns
// their records and leaves them out of its lag, as a consumer of a group
// split over two loaders would.
class PartOfTheGroup : public log::Consumer {
 public:
  PartOfTheGroup(std::unique_ptr<log::Consumer> inner, std::set<int32_t> not_mine)
      : inner_(std::move(inner)), not_mine_(std::move(not_mine)) {}
  Result<std::vector<log::Record>> poll(size_t max, std::chrono::milliseconds t) override {
    TANDEM_ASSIGN_OR_RETURN(auto recs, inner_->poll(max, t));
    std::vector<log::Record> out;
    for (auto& r : recs) {
      if (!not_mine_.count(r.partition.get())) out.push_back(std::move(r));
    }
    return out;
  }
  Status commit(const std::map<Partition, Offset>& next) override { return inner_->commit(next); }
  Result<std::map<Partition, Offset>> committed() override { return inner_->committed(); }
  Status seek(Partition p, Offset o) override { return inner_->seek(p, o); }
  Result<std::vector<log::PartitionLag>> lag() override {
    TANDEM_ASSIGN_OR_RETURN(auto all, inner_->lag());
    std::vector<log::PartitionLag> out;
    for (auto& l : all) {
      if (!not_mine_.count(l.partition.get())) out.push_back(l);
    }
    return out;
  }

 private:
  std::unique_ptr<log::Consumer> inner_;
  std::set<int32_t> not_mine_;
};

class MetaOrderE2E : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    name_ = testing::unique_name("e2e-mo");
    dir_ = (std::filesystem::temp_directory_path() / ("tandem-" + name_)).string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    blue_ = testing::connect_or_die("blue", testing::blue_url());
    green_ = testing::connect_or_die("green", testing::green_url());
    ASSERT_TRUE(blue_ && green_);
  }
  void TearDown() override {
    if (proxy_.pid > 0) {
      ::kill(proxy_.pid, SIGKILL);
      ::waitpid(proxy_.pid, nullptr, 0);
    }
    for (const auto& i : {strict_, dyn_}) {
      if (blue_) (void)blue_->delete_index(IndexName(i));
      if (green_) (void)green_->delete_index(IndexName(i));
    }
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  // Runs a loader of group `group_` until its lag is 0 (bounded by the
  // loader's own until_lag_zero and a stop after 120 s).
  load::LoaderStatus run_loader(log::Log& l, state::Store& store, std::set<int32_t> not_mine) {
    auto c = l.consumer(group_);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    if (!c.is_ok()) return {};
    PartOfTheGroup consumer(std::move(c).value(), std::move(not_mine));
    auto sink = apply::make_es_sink(*blue_, *green_);
    load::LoaderOptions o;
    o.until_lag_zero = true;
    o.progress_interval = 0ms;
    o.poll_timeout = 100ms;
    o.progress = [](std::string_view) {};
    auto loader = load::make_loader(consumer, *sink, store, o);
    std::thread guard([&] {
      for (int i = 0; i < 1200 && !done_; ++i) std::this_thread::sleep_for(100ms);
      loader->stop();
    });
    Status s = loader->run();
    done_ = true;
    guard.join();
    done_ = false;
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return loader->status();
  }

  void send(http::Client& c, const std::string& method, const std::string& target,
            const std::string& body) {
    auto r = send_tagged(c, "mo", method, target, body);
    ASSERT_TRUE(r.is_ok()) << method << " " << target << ": " << r.status().to_string();
    ASSERT_LT(r->status, 300) << method << " " << target << ": " << r->body;
  }

  // The type green maps `field` of `idx` with; "" when it maps none.
  std::string green_type(const std::string& idx, const std::string& field) {
    auto m = green_->call("GET", "/" + idx + "/_mapping");
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    if (!m.is_ok()) return "";
    const json& mp = (*m)[idx]["mappings"];
    if (!mp.is_object() || !mp.contains("properties") || !mp["properties"].contains(field)) {
      return "";
    }
    return mp["properties"][field].value("type", "");
  }

  std::string name_, dir_, strict_, dyn_;
  std::string group_ = "mo-loader";
  std::unique_ptr<es::Client> blue_, green_;
  ProxyProcess proxy_;
  std::atomic<bool> done_{false};
};

TEST_P(MetaOrderE2E, DocumentsReadBeforeTheirMappingChangeLandMappedAsOnBlue) {
  const bool kafka = std::string(GetParam()) == "kafka";
  strict_ = name_ + "-strict";
  dyn_ = name_ + "-dyn";
  ProxySpec s;
  s.primary_url = testing::blue_url();
  s.data_dir = dir_ + "/proxy";
  if (kafka) {
    s.kafka_brokers = testing::kafka_brokers();
    s.topic = name_ + "-events";
  } else {
    s.log_dir = dir_ + "/proxy/log";
  }
  proxy_ = start_proxy(s);
  ASSERT_GT(proxy_.pid, 0);
  auto c = client_for(proxy_.url());
  ASSERT_TRUE(c);
  const std::string one_shard = R"("settings":{"number_of_shards":1,"number_of_replicas":0})";
  send(*c, "PUT", "/" + strict_,
       "{" + one_shard +
           R"(,"mappings":{"dynamic":"strict","properties":{"a":{"type":"keyword"}}}})");
  send(*c, "PUT", "/" + dyn_, "{" + one_shard + "}");

  Result<std::unique_ptr<log::Log>> opened = Status::ok();
  if (kafka) {
    log::KafkaLogOptions ko;
    ko.brokers = s.kafka_brokers;
    ko.topic = s.topic;
    opened = log::open_kafka_log(ko);
  } else {
    opened = log::open_file_log_reader(s.log_dir);
  }
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  auto& l = **opened;
  const int32_t n = l.partitions();
  ASSERT_GE(n, 4);
  auto st = state::open_store(dir_ + "/state.db");
  ASSERT_TRUE(st.is_ok()) << st.status().to_string();

  // 1. Both indices on green as created (strict with `a` only; no mapping).
  run_loader(l, **st, {});
  ASSERT_EQ(green_type(strict_, "b"), "");
  ASSERT_EQ(green_type(dyn_, "n"), "");

  // 2. Through the proxy: the mapping change, then documents placed in
  //    partitions other than the meta's; blue's first `n` is 5 (long).
  const int32_t meta_part = event::partition_for(strict_, n);
  auto part_of = [&](const std::string& idx, const std::string& id) {
    return event::partition_for(idx + "/" + id, n);
  };
  std::string first_n;  // lands in a partition the paused loader holds
  for (int k = 0; first_n.empty(); ++k) {
    std::string id = "n" + std::to_string(k);
    if (part_of(dyn_, id) != meta_part) first_n = id;
  }
  const std::set<int32_t> paused = {meta_part, part_of(dyn_, first_n)};
  std::vector<std::string> strict_ids;
  std::string later_n;
  for (int k = 0; strict_ids.size() < 3 || later_n.empty(); ++k) {
    std::string id = "d" + std::to_string(k);
    if (strict_ids.size() < 3 && !paused.count(part_of(strict_, id))) strict_ids.push_back(id);
    if (later_n.empty() && !paused.count(part_of(dyn_, id))) later_n = id;
  }
  send(*c, "PUT", "/" + strict_ + "/_mapping", R"({"properties":{"b":{"type":"long"}}})");
  for (size_t k = 0; k < strict_ids.size(); ++k) {
    send(*c, "PUT", "/" + strict_ + "/_doc/" + strict_ids[k],
         R"({"a":"x","b":)" + std::to_string(k) + "}");
  }
  send(*c, "PUT", "/" + dyn_ + "/_doc/" + first_n, R"({"n":5})");
  send(*c, "PUT", "/" + dyn_ + "/_doc/" + later_n, R"({"n":5.5})");

  // 3. The loader of the documents' partitions, the other one paused.
  auto split = run_loader(l, **st, paused);
  EXPECT_EQ(split.dead_lettered, 0u);
  EXPECT_EQ(split.meta_applied, 0u);  // it never saw the mapping change
  EXPECT_EQ(*(*st)->count_dead_letters(), 0);
  EXPECT_EQ(green_type(strict_, "b"), "long");
  EXPECT_EQ(green_type(dyn_, "n"), "long") << "green mapped n by its own guess";
  ASSERT_TRUE(green_->refresh(IndexName(strict_)).is_ok());
  for (const auto& id : strict_ids) {
    auto d = green_->get(IndexName(strict_), DocId(id));
    EXPECT_TRUE(d.is_ok() && d->found) << "strict document " << id << " not on green";
  }

  // 4. The paused loader catches up (the mapping change applies as a no-op);
  //    green equals blue and verify agrees.
  auto rest = run_loader(l, **st, {});
  EXPECT_EQ(rest.dead_lettered, 0u);
  EXPECT_EQ(*(*st)->count_dead_letters(), 0);
  for (const auto& i : {strict_, dyn_}) {
    EXPECT_EQ(load::it::parity(*blue_, *green_, i), "") << i;
  }
  const std::string out = dir_ + "/verify.out";
  pid_t pid = testing::spawn({testing::tandem_bin(), "verify", "--blue", testing::blue_url(),
                              "--green", testing::green_url(), "--index", name_ + "-*", "--deep"},
                             out);
  EXPECT_EQ(testing::wait_for(pid, 180s), 0) << testing::file_tail(out);
}

INSTANTIATE_TEST_SUITE_P(Logs, MetaOrderE2E, ::testing::Values("kafka", "file"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace tandem::e2e
