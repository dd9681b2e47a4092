// Helpers shared by the file log unit and crash tests.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "log/log.h"

namespace tandem::log::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TmpDir {
 public:
  TmpDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tandem-filelog-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr) << "mkdtemp " << tmpl;
    path_ = tmpl;
  }
  ~TmpDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& s) const { return path_ + "/" + s; }

 private:
  std::string path_;
};

inline FileLogOptions options(const std::string& dir, int32_t partitions = 4) {
  FileLogOptions o;
  o.dir = dir;
  o.partitions = partitions;
  return o;
}

inline std::unique_ptr<Log> must_open(const FileLogOptions& o) {
  auto r = open_file_log(o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return nullptr;
  return std::move(r).value();
}

inline std::unique_ptr<Consumer> open_consumer(Log& log, const std::string& group) {
  auto r = log.consumer(group);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return nullptr;
  return std::move(r).value();
}

struct Ack {
  Status status;
  int32_t partition = -1;
  int64_t offset = -1;
};

// Appends records and waits for every callback; returns acks in input order.
inline std::vector<Ack> append_and_wait(
    Log& log, const std::vector<std::pair<std::string, std::string>>& kvs) {
  auto acks = std::make_shared<std::vector<Ack>>(kvs.size());
  std::vector<AppendRecord> batch;
  for (size_t i = 0; i < kvs.size(); ++i) {
    batch.push_back(AppendRecord{kvs[i].first, kvs[i].second,
                                 [acks, i](const Status& s, Partition p, Offset o) {
                                   (*acks)[i] = Ack{s, p.get(), o.get()};
                                 }});
  }
  log.append(std::move(batch));
  Status f = log.flush(std::chrono::seconds(60));
  EXPECT_TRUE(f.is_ok()) << f.to_string();
  return *acks;
}

// Polls until `want` records arrived or a poll comes back empty.
inline Result<std::vector<Record>> read_n(
    Consumer& c, size_t want, std::chrono::milliseconds idle = std::chrono::milliseconds(200)) {
  std::vector<Record> all;
  while (all.size() < want) {
    auto r = c.poll(want - all.size(), idle);
    if (!r.is_ok()) return r.status();
    if (r->empty()) break;
    for (auto& rec : *r) all.push_back(std::move(rec));
  }
  return all;
}

inline std::vector<std::string> segment_files(const std::string& dir, int32_t partition) {
  std::vector<std::string> out;
  const std::string pdir = dir + "/p" + std::to_string(partition);
  if (!std::filesystem::is_directory(pdir)) return out;
  for (auto& e : std::filesystem::directory_iterator(pdir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tandem::log::testing
