#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "state/state.h"

namespace tandem::state {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem-state-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "state.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(StoreTest, KvRoundTripAndOverwrite) {
  auto s = open_store(path_);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto none = (*s)->get("epoch");
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE((*s)->put("epoch", "1").is_ok());
  ASSERT_TRUE((*s)->put("epoch", "2").is_ok());
  auto v = (*s)->get("epoch");
  ASSERT_TRUE(v.is_ok());
  EXPECT_EQ(v->value(), "2");
}

TEST_F(StoreTest, CheckpointsPerJobIndexSlice) {
  auto s = open_store(path_);
  ASSERT_TRUE(s.is_ok());
  Store& st = **s;
  ASSERT_TRUE(st.save_checkpoint("bf", IndexName("a"), 0, R"({"docs":1})").is_ok());
  ASSERT_TRUE(st.save_checkpoint("bf", IndexName("a"), 1, R"({"docs":2})").is_ok());
  ASSERT_TRUE(st.save_checkpoint("bf", IndexName("a"), 0, R"({"docs":3})").is_ok());
  EXPECT_EQ(st.load_checkpoint("bf", IndexName("a"), 0)->value(), R"({"docs":3})");
  EXPECT_EQ(st.load_checkpoint("bf", IndexName("a"), 1)->value(), R"({"docs":2})");
  EXPECT_FALSE(st.load_checkpoint("bf", IndexName("b"), 0)->has_value());
  EXPECT_FALSE(st.load_checkpoint("other", IndexName("a"), 0)->has_value());
}

TEST_F(StoreTest, DeadLettersKeepBinaryIdsAndCanBeRemoved) {
  auto s = open_store(path_);
  ASSERT_TRUE(s.is_ok());
  Store& st = **s;
  DeadLetter d;
  d.source = "load";
  d.index = IndexName("products");
  d.doc_id = DocId(std::string("\xff\x00id", 4));
  d.event = R"({"v":1})";
  d.error_type = "mapper_parsing_exception";
  d.error_reason = "failed to parse field [price]";
  auto id1 = st.add_dead_letter(d);
  ASSERT_TRUE(id1.is_ok()) << id1.status().to_string();
  auto id2 = st.add_dead_letter(d);
  ASSERT_TRUE(id2.is_ok());
  EXPECT_LT(*id1, *id2);
  EXPECT_EQ(*st.count_dead_letters(), 2);
  auto all = st.dead_letters();
  ASSERT_TRUE(all.is_ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].doc_id.get(), std::string("\xff\x00id", 4));
  EXPECT_EQ((*all)[0].error_type, "mapper_parsing_exception");
  EXPECT_GT((*all)[0].created_ms, 0);
  ASSERT_TRUE(st.remove_dead_letter(*id1).is_ok());
  EXPECT_EQ(st.remove_dead_letter(*id1).code(), Code::kNotFound);
  EXPECT_EQ(*st.count_dead_letters(), 1);
  EXPECT_EQ(st.dead_letters(0)->size(), 0u);
}

TEST_F(StoreTest, VerifyMarksKeepFirstReason) {
  auto s = open_store(path_);
  ASSERT_TRUE(s.is_ok());
  Store& st = **s;
  ASSERT_TRUE(st.mark_needs_verify(IndexName("logs"), "auto-id").is_ok());
  ASSERT_TRUE(st.mark_needs_verify(IndexName("logs"), "second").is_ok());
  ASSERT_TRUE(st.mark_needs_verify(IndexName("a"), "delete_by_query").is_ok());
  auto marks = st.needs_verify();
  ASSERT_TRUE(marks.is_ok());
  ASSERT_EQ(marks->size(), 2u);
  EXPECT_EQ((*marks)[1].index.get(), "logs");
  EXPECT_EQ((*marks)[1].reason, "auto-id");
  ASSERT_TRUE(st.clear_needs_verify(IndexName("logs")).is_ok());
  EXPECT_EQ(st.needs_verify()->size(), 1u);
}

TEST_F(StoreTest, ReopenKeepsEverything) {
  {
    auto s = open_store(path_);
    ASSERT_TRUE(s.is_ok());
    ASSERT_TRUE((*s)->put("phase", "backfill").is_ok());
    ASSERT_TRUE((*s)->save_checkpoint("j", IndexName("i"), 3, "{}").is_ok());
  }
  auto s = open_store(path_);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)->get("phase")->value(), "backfill");
  EXPECT_TRUE((*s)->load_checkpoint("j", IndexName("i"), 3)->has_value());
}

// A committed write survives the process dying without any cleanup
// (no destructor, no checkpoint of the WAL): _exit right after put().
TEST_F(StoreTest, CommittedWriteSurvivesAbruptExit) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto s = open_store(path_);
    if (!s.is_ok()) ::_exit(3);
    if (!(*s)->put("k", "durable").is_ok()) ::_exit(4);
    ::_exit(0);  // skips destructors: the WAL is left as is
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto s = open_store(path_);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ((*s)->get("k")->value(), "durable");
}

TEST_F(StoreTest, RefusesGarbageFileNamingPath) {
  {
    std::ofstream f(path_, std::ios::binary);
    for (int i = 0; i < 1000; ++i) f << "this is not sqlite ";
  }
  auto s = open_store(path_);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), Code::kCorruption);
  EXPECT_NE(s.status().message().find(path_), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("is not a tandem state store"), std::string::npos);
  EXPECT_NE(s.status().message().find("move it aside"), std::string::npos);
  // The file was not replaced.
  EXPECT_GT(std::filesystem::file_size(path_), 10000u);
}

TEST_F(StoreTest, RefusesForeignSqliteDatabase) {
  {
    auto s = open_store(path_);
    ASSERT_TRUE(s.is_ok());
  }
  // A valid SQLite file of another application: application_id (header
  // bytes 68..71) says so.
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(68);
    f.write("ABCD", 4);
  }
  auto s = open_store(path_);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("not a tandem state store"), std::string::npos)
      << s.status().message();
}

TEST_F(StoreTest, RefusesTruncatedStore) {
  {
    auto s = open_store(path_);
    ASSERT_TRUE(s.is_ok());
    for (int i = 0; i < 200; ++i) {
      ASSERT_TRUE((*s)->put("key" + std::to_string(i), std::string(500, 'x')).is_ok());
    }
  }
  // Fold the WAL into the main file by reopening once, then damage pages.
  { ASSERT_TRUE(open_store(path_).is_ok()); }
  std::filesystem::remove(path_ + "-wal");
  std::filesystem::remove(path_ + "-shm");
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 10);
    std::string junk(8192, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  // Pages 2-3 hold the b-tree of the 200 rows: quick_check on open finds
  // them malformed, and the store refuses to open rather than answer from
  // a damaged file.
  auto s = open_store(path_);
  ASSERT_FALSE(s.is_ok()) << "a store with damaged pages opened";
  EXPECT_EQ(s.status().code(), Code::kCorruption) << s.status().to_string();
  EXPECT_NE(s.status().message().find(path_), std::string::npos) << s.status().message();
}

TEST_F(StoreTest, MissingDirectoryIsNamed) {
  auto s = open_store((dir_ / "nope" / "state.db").string());
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("nope"), std::string::npos);
}

TEST_F(StoreTest, TwoHandlesShareOneFile) {
  auto a = open_store(path_);
  auto b = open_store(path_);
  ASSERT_TRUE(a.is_ok());
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  ASSERT_TRUE((*a)->put("x", "1").is_ok());
  EXPECT_EQ((*b)->get("x")->value(), "1");
}

}  // namespace
}  // namespace tandem::state
