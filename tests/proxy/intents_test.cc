// The write-ahead intent journal: recovery after a crash, torn tails,
// compaction, exclusivity and byte-exact ids.
#include "proxy/intents.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

namespace tandem::proxy {
namespace {

// An intent from plain strings (ids and indices are strong types).
Intent I(std::string index, std::optional<std::string> id, std::optional<std::string> routing) {
  Intent in;
  in.index = IndexName(std::move(index));
  if (id) in.id = DocId(std::move(*id));
  in.routing = std::move(routing);
  return in;
}

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           ("tandem-intents-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  return p.string();
}

IntentsOptions opts(const std::string& dir) {
  IntentsOptions o;
  o.dir = dir;
  return o;
}

TEST(Intents, OpenIntentsSurviveACrash) {
  std::string dir = temp_dir("crash");
  const std::string weird_id("a\0b\xff/\n", 6);
  {
    std::vector<Intent> rec;
    auto j = IntentJournal::open(opts(dir), &rec);
    ASSERT_TRUE(j.is_ok()) << j.status().to_string();
    EXPECT_TRUE(rec.empty());
    auto a = (*j)->begin({I("i1", "1", std::nullopt), I("i1", "2", "r")});
    auto b = (*j)->begin({I("i2", weird_id, std::nullopt), I("i3", std::nullopt, std::nullopt)});
    auto c = (*j)->begin({I("i4", "x", std::nullopt)});
    ASSERT_TRUE(a.is_ok() && b.is_ok() && c.is_ok());
    EXPECT_EQ((*j)->open_requests(), 3u);
    EXPECT_EQ((*j)->open_intents(), 5u);
    (*j)->done(*a);
    (*j)->done(*c);
    EXPECT_EQ((*j)->open_intents(), 2u);
    EXPECT_EQ((*j)->intents_of(*b).size(), 2u);
    // "crash": no clean shutdown step exists; the journal is just dropped.
  }
  std::vector<Intent> rec;
  auto j = IntentJournal::open(opts(dir), &rec);
  ASSERT_TRUE(j.is_ok()) << j.status().to_string();
  ASSERT_EQ(rec.size(), 2u);
  std::sort(rec.begin(), rec.end(),
            [](const Intent& x, const Intent& y) { return x.index < y.index; });
  EXPECT_EQ(rec[0], I("i2", weird_id, std::nullopt));
  EXPECT_EQ(rec[1], I("i3", std::nullopt, std::nullopt));
  // New requests after recovery get fresh ids.
  auto d = (*j)->begin({I("i5", "y", std::nullopt)});
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ((*j)->intents_of(*d).size(), 1u);
  ASSERT_TRUE((*j)->reset_recovered().is_ok());
  EXPECT_EQ((*j)->open_intents(), 1u);
  j->reset();
  std::vector<Intent> again;
  ASSERT_TRUE(IntentJournal::open(opts(dir), &again).is_ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].index.get(), "i5");
}

TEST(Intents, TornTailIsCutAndLaterRecordsStayReadable) {
  std::string dir = temp_dir("torn");
  std::string path;
  {
    auto j = IntentJournal::open(opts(dir), nullptr);
    ASSERT_TRUE(j.is_ok());
    ASSERT_TRUE((*j)->begin({I("i", "1", std::nullopt)}).is_ok());
    path = (*j)->path();
  }
  auto good_size = std::filesystem::file_size(path);
  {
    std::ofstream f(path, std::ios::binary | std::ios::app);
    f << std::string("\x20\x00\x00\x00garbage", 11);  // a torn record
  }
  {
    std::vector<Intent> rec;
    auto j = IntentJournal::open(opts(dir), &rec);
    ASSERT_TRUE(j.is_ok()) << j.status().to_string();
    EXPECT_EQ(rec.size(), 1u);
    EXPECT_EQ(std::filesystem::file_size(path), good_size);
    ASSERT_TRUE((*j)->begin({I("i", "2", std::nullopt)}).is_ok());
  }
  std::vector<Intent> rec;
  ASSERT_TRUE(IntentJournal::open(opts(dir), &rec).is_ok());
  EXPECT_EQ(rec.size(), 2u);
}

TEST(Intents, CorruptRecordEndsTheJournal) {
  std::string dir = temp_dir("crc");
  std::string path;
  {
    auto j = IntentJournal::open(opts(dir), nullptr);
    ASSERT_TRUE(j.is_ok());
    ASSERT_TRUE((*j)->begin({I("i", "1", std::nullopt)}).is_ok());
    ASSERT_TRUE((*j)->begin({I("i", "2", std::nullopt)}).is_ok());
    path = (*j)->path();
  }
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(-1, std::ios::end);
    f.put('Z');  // flip the last byte of the second record
  }
  std::vector<Intent> rec;
  ASSERT_TRUE(IntentJournal::open(opts(dir), &rec).is_ok());
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].id.value_or(DocId()).get(), "1");
}

TEST(Intents, CompactsWhenLarge) {
  std::string dir = temp_dir("compact");
  IntentsOptions o = opts(dir);
  o.compact_bytes = 4096;
  auto j = IntentJournal::open(o, nullptr);
  ASSERT_TRUE(j.is_ok());
  auto keep = (*j)->begin({I("keep", "k", "r")});
  ASSERT_TRUE(keep.is_ok());
  for (int k = 0; k < 500; ++k) {
    auto id = (*j)->begin({I("i", std::to_string(k), std::nullopt)});
    ASSERT_TRUE(id.is_ok());
    (*j)->done(*id);
  }
  EXPECT_LT(std::filesystem::file_size((*j)->path()), 4096u + 200u);
  j->reset();
  std::vector<Intent> rec;
  ASSERT_TRUE(IntentJournal::open(o, &rec).is_ok());
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0], I("keep", "k", "r"));
}

TEST(Intents, DirectoryIsExclusive) {
  std::string dir = temp_dir("lock");
  auto a = IntentJournal::open(opts(dir), nullptr);
  ASSERT_TRUE(a.is_ok());
  auto b = IntentJournal::open(opts(dir), nullptr);
  ASSERT_FALSE(b.is_ok());
  EXPECT_EQ(b.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(b.status().message().find(dir), std::string::npos);
}

TEST(Intents, ConcurrentBeginsShareGroupCommits) {
  std::string dir = temp_dir("group");
  auto j = IntentJournal::open(opts(dir), nullptr);
  ASSERT_TRUE(j.is_ok());
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 50; ++k) {
        auto id = (*j)->begin({I("i", std::to_string(t * 1000 + k), std::nullopt)});
        if (id.is_ok()) {
          ++ok;
          if (k % 2 == 0) (*j)->done(*id);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_EQ((*j)->open_intents(), 200u);
  j->reset();
  std::vector<Intent> rec;
  ASSERT_TRUE(IntentJournal::open(opts(dir), &rec).is_ok());
  EXPECT_EQ(rec.size(), 200u);
}

TEST(Intents, RequiresADirectory) {
  EXPECT_EQ(IntentJournal::open(IntentsOptions{}, nullptr).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::proxy

namespace tandem::proxy {
namespace {

// begin_async: the caller is not the one that syncs; every callback runs
// exactly once, after its records are durable, even with compaction and a
// close racing the sync thread.
TEST(Intents, BeginAsyncCompletesEveryRequestOnceOffTheCallersThread) {
  std::string dir = temp_dir("async");
  IntentsOptions o = opts(dir);
  o.compact_bytes = 4096;  // compactions while waiters are pending
  std::atomic<int> completed{0}, off_thread{0};
  std::mutex mu;
  std::set<uint64_t> ids;
  const auto caller = std::this_thread::get_id();
  {
    std::vector<Intent> rec;
    auto j = IntentJournal::open(o, &rec);
    ASSERT_TRUE(j.is_ok()) << j.status().to_string();
    for (int k = 0; k < 500; ++k) {
      (*j)->begin_async({I("idx", "id" + std::to_string(k), std::nullopt)},
                        [&, jr = j->get()](Result<uint64_t> id) {
                          ASSERT_TRUE(id.is_ok()) << id.status().to_string();
                          if (std::this_thread::get_id() != caller) ++off_thread;
                          {
                            std::lock_guard lk(mu);
                            EXPECT_TRUE(ids.insert(*id).second) << "id completed twice";
                          }
                          if (*id % 2 == 0) jr->done(*id);  // done() may compact
                          ++completed;
                        });
    }
    // Closing settles whatever is still waiting.
  }
  EXPECT_EQ(completed.load(), 500);
  EXPECT_GT(off_thread.load(), 0);
  // Odd requests are still open after a restart: their records were durable.
  std::vector<Intent> rec;
  auto j = IntentJournal::open(o, &rec);
  ASSERT_TRUE(j.is_ok()) << j.status().to_string();
  EXPECT_EQ(rec.size(), 250u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::proxy
