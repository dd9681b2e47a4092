#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "apply/apply.h"
#include "event/event.h"
#include "state/state.h"

namespace tandem::load::testing {

inline event::ChangeEvent ev_index(const std::string& idx, const std::string& id, int64_t seq,
                                   const std::string& source, uint32_t epoch = 0) {
  event::ChangeEvent e;
  e.op = event::Op::kIndex;
  e.index = IndexName(idx);
  e.id = DocId(id);
  e.seq_no = SeqNo(seq);
  e.primary_term = PrimaryTerm(1);
  e.epoch = Epoch(epoch);
  e.source = source;
  return e;
}

inline event::ChangeEvent ev_delete(const std::string& idx, const std::string& id, int64_t seq) {
  event::ChangeEvent e = ev_index(idx, id, seq, "");
  e.op = event::Op::kDelete;
  e.source.clear();
  return e;
}

inline Item item(event::ChangeEvent e) {
  return Item{std::move(e), "", std::nullopt};
}

// A state store in a fresh temporary directory (SQLite file: no network).
class TempStore {
 public:
  TempStore() {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem-load-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto s = state::open_store((dir_ / "state.db").string());
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s).value();
  }
  ~TempStore() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  state::Store& operator*() { return *store_; }
  state::Store* get() { return store_.get(); }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path dir_;
  std::unique_ptr<state::Store> store_;
};

inline ApplyOptions fast_options() {
  ApplyOptions o;
  o.backoff.initial = std::chrono::milliseconds(1);
  o.backoff.max = std::chrono::milliseconds(5);
  return o;
}

}  // namespace tandem::load::testing
