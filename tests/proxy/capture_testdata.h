// Test helpers for the capture half: real ES 7.17 / 8.x bodies recorded with
// curl against the lead's clusters (tests/proxy/testdata), and a fake log.
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"

namespace tandem::proxy::testing {

inline std::string testdata(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(__FILE__).parent_path() / "testdata" / name;
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test data " << p;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A log whose behaviour is switched at run time:
//   kAck: acknowledge in append() (synchronously);
//   kFail: fail every record in append();
//   kHang: keep the callbacks, never call them until release_held();
// and, in every mode, refuses for good (kInvalidArgument, as the Log
// contract says) a record whose key + value exceed set_max_record_bytes().
// Records acknowledged are kept for inspection.
class FakeLog : public log::Log {
 public:
  enum class Mode { kAck, kFail, kHang };

  void set_mode(Mode m) {
    std::lock_guard lk(mu_);
    mode_ = m;
  }
  std::vector<log::Record> records() const {
    std::lock_guard lk(mu_);
    return records_;
  }
  size_t held() const {
    std::lock_guard lk(mu_);
    return held_.size();
  }
  // Acknowledges (ok=true) or fails the held records.
  void release_held(bool ok) {
    std::vector<log::AppendRecord> held;
    {
      std::lock_guard lk(mu_);
      held.swap(held_);
    }
    for (auto& r : held) finish(std::move(r), ok);
  }

  // `announced` is what max_record_bytes() reports; records whose key +
  // value exceed `enforced` are refused whatever was announced (a Kafka
  // topic whose max.message.bytes is below the producer's limit).
  void set_max_record_bytes(uint64_t announced, uint64_t enforced) {
    std::lock_guard lk(mu_);
    announced_ = announced;
    enforced_ = enforced;
  }
  size_t refused_count() const {
    std::lock_guard lk(mu_);
    return refused_;
  }

  std::string describe() const override { return "fake log"; }
  int32_t partitions() const override { return 1; }
  uint64_t max_record_bytes() const override {
    std::lock_guard lk(mu_);
    return announced_;
  }
  void append(std::vector<log::AppendRecord> batch) override {
    Mode m;
    std::vector<log::AppendRecord> fits, refused;
    {
      std::lock_guard lk(mu_);
      m = mode_;
      for (auto& r : batch) {
        bool fit = r.key.size() + r.value.size() <= enforced_;
        refused_ += fit ? 0 : 1;
        (fit ? fits : refused).push_back(std::move(r));
      }
      if (m == Mode::kHang) {
        for (auto& r : fits) held_.push_back(std::move(r));
        fits.clear();
      }
    }
    for (auto& r : refused) {
      if (r.done) {
        r.done(error(Code::kInvalidArgument, "fake log: record too large"), Partition(0),
               Offset(-1));
      }
    }
    for (auto& r : fits) finish(std::move(r), m == Mode::kAck);
  }
  Status flush(std::chrono::milliseconds) override { return Status::ok(); }
  Result<std::vector<Offset>> end_offsets() override {
    std::lock_guard lk(mu_);
    return std::vector<Offset>{Offset(static_cast<int64_t>(records_.size()))};
  }
  Result<std::vector<Offset>> begin_offsets() override { return std::vector<Offset>{Offset(0)}; }
  Result<std::unique_ptr<log::Consumer>> consumer(const std::string&) override {
    return error(Code::kInternal, "fake log has no consumers");
  }

 private:
  void finish(log::AppendRecord r, bool ok) {
    Offset off(-1);
    if (ok) {
      std::lock_guard lk(mu_);
      off = Offset(static_cast<int64_t>(records_.size()));
      records_.push_back({Partition(0), off, r.key, r.value});
    }
    if (r.done) {
      if (ok) {
        r.done(Status::ok(), Partition(0), off);
      } else {
        r.done(error(Code::kUnavailable, "fake log: injected failure"), Partition(0), off);
      }
    }
  }

  mutable std::mutex mu_;
  Mode mode_ = Mode::kAck;
  uint64_t announced_ = UINT64_MAX;
  uint64_t enforced_ = UINT64_MAX;
  size_t refused_ = 0;
  std::vector<log::Record> records_;
  std::vector<log::AppendRecord> held_;
};

// Polls `pred` every 10 ms for at most `limit`.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace tandem::proxy::testing
