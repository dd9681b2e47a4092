// Helpers for integration tests against the real blue / green / Kafka
// (tests/support/services.h). Header-only; shared by tests/load and
// tests/backfill.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "es/es.h"
#include "event/event.h"
#include "support/clusters.h"
#include "support/services.h"

namespace tandem::load::it {

using tandem::testing::connect_or_die;

struct Snapshot {
  struct D {
    int64_t seq_no = -1;
    int64_t version = -1;
    std::string source;
  };
  std::map<std::string, D> docs;
};

// Every document of `idx` via a full scan (seq_no, _version, source).
inline Snapshot snapshot(es::Client& c, const std::string& idx) {
  Snapshot s;
  EXPECT_TRUE(c.refresh(IndexName(idx)).is_ok());
  es::ScanOptions o;
  o.batch_size = 500;
  auto sc = c.scan(IndexName(idx), o);
  EXPECT_TRUE(sc.is_ok()) << sc.status().to_string();
  if (!sc.is_ok()) return s;
  for (int guard = 0; guard < 100000; ++guard) {
    auto page = (*sc)->next();
    EXPECT_TRUE(page.is_ok()) << page.status().to_string();
    if (!page.is_ok() || page->empty()) break;
    for (auto& d : *page) s.docs[d.id.get()] = Snapshot::D{d.seq_no.get(), d.version, d.source};
  }
  return s;
}

// Green equals blue: same ids, green's _version is blue's seq_no mapped
// through external_version(epoch), same source bytes. Returns a description
// of the first few differences (empty = parity).
inline std::string parity(es::Client& blue, es::Client& green, const std::string& idx,
                          uint32_t epoch = 0) {
  auto b = snapshot(blue, idx);
  auto g = snapshot(green, idx);
  std::string diff;
  int n = 0;
  auto note = [&](const std::string& s) {
    if (n++ < 10) diff += s + "\n";
  };
  for (auto& [id, d] : b.docs) {
    auto it = g.docs.find(id);
    if (it == g.docs.end()) {
      note("missing on green: " + id);
      continue;
    }
    auto want = static_cast<int64_t>(external_version(Epoch(epoch), SeqNo(d.seq_no)));
    if (it->second.version != want) {
      note("version of " + id + ": green " + std::to_string(it->second.version) + " want " +
           std::to_string(want));
    }
    if (it->second.source != d.source) note("source of " + id + " differs");
  }
  for (auto& [id, d] : g.docs) {
    if (!b.docs.count(id)) note("extra on green (resurrected?): " + id);
  }
  if (n > 10) diff += "... " + std::to_string(n) + " differences\n";
  if (b.docs.empty() && n == 0) diff = "";
  return diff;
}

inline event::ChangeEvent event_from(const std::string& idx, const std::string& id,
                                     const es::WriteResult& w, bool del, std::string source) {
  event::ChangeEvent e;
  e.op = del ? event::Op::kDelete : event::Op::kIndex;
  e.index = IndexName(idx);
  e.id = DocId(id);
  e.seq_no = w.seq_no;
  e.primary_term = w.primary_term;
  e.source = del ? "" : std::move(source);
  return e;
}

}  // namespace tandem::load::it
