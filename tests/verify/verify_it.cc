// Integration tests for quick verification against real blue (7.17) and
// green (8.x): copy an index with versioned bulks, prove parity, then break
// it in every way verify must catch.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "es/es.h"
#include "state/state.h"
#include "support/clusters.h"
#include "support/services.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

using nlohmann::json;

using tandem::testing::connect_or_die;

class VerifyIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", testing::blue_url());
    green_ = connect_or_die("green", testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    idx_ = IndexName(testing::unique_name("tverify"));
    json body = {{"settings", {{"number_of_shards", 2}, {"number_of_replicas", 0}}}};
    ASSERT_TRUE(blue_->create_index(idx_, body).is_ok());
    ASSERT_TRUE(green_->create_index(idx_, body).is_ok());
    es::BulkBuilder bb;
    for (int i = 0; i < kDocs; ++i) {
      bb.index(idx_, DocId(std::to_string(i)), json{{"n", i}}.dump(),
               i % 10 == 0 ? std::optional<std::string>("r" + std::to_string(i)) : std::nullopt);
    }
    auto r = blue_->bulk(bb, "true");
    ASSERT_TRUE(r.is_ok() && !r->errors) << r.status().to_string();
    copy_blue_to_green();
  }
  void TearDown() override {
    if (blue_) (void)blue_->delete_index(idx_);
    if (green_) (void)green_->delete_index(idx_);
  }
  // What backfill does: scan blue, write green with external versions.
  void copy_blue_to_green() {
    auto sc = blue_->scan(idx_, es::ScanOptions{});
    ASSERT_TRUE(sc.is_ok()) << sc.status().to_string();
    es::BulkBuilder bb;
    for (;;) {
      auto page = (*sc)->next();
      ASSERT_TRUE(page.is_ok()) << page.status().to_string();
      if (page->empty()) break;
      for (const auto& d : *page) {
        bb.index(idx_, d.id, d.source, d.routing,
                 es::VersionSpec{external_version(Epoch(0), d.seq_no)});
      }
    }
    auto r = green_->bulk(bb, "true");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    for (const auto& it : r->items) {
      // 409: green already holds this or a newer state -- success for tandem.
      ASSERT_TRUE(it.ok() || it.version_conflict()) << it.error_type << ": " << it.error_reason;
    }
  }
  Options fast_opts() {
    Options o;
    o.index_pattern = idx_.get();
    o.recheck_attempts = 2;
    o.recheck_delay = std::chrono::milliseconds(50);
    return o;
  }
  static constexpr int kDocs = 120;
  std::unique_ptr<es::Client> blue_, green_;
  IndexName idx_;
};

TEST_F(VerifyIt, CopiedIndexHasFullParity) {
  auto rep = quick(*blue_, *green_, fast_opts());
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  ASSERT_EQ(rep->indices.size(), 1u);
  const IndexReport& r = rep->indices[0];
  EXPECT_EQ(r.blue_count, uint64_t{kDocs});
  EXPECT_EQ(r.green_count, uint64_t{kDocs});
  EXPECT_EQ(r.matched, uint64_t{kDocs});
  EXPECT_TRUE(rep->ok());
  std::string table = render_table(*rep);
  EXPECT_NE(table.find("parity: 100.00% (120 documents, 1 indices)"), std::string::npos) << table;

  // Bounded memory: many hash buckets, same answer.
  Options o = fast_opts();
  o.max_ids_in_memory = 7;
  auto rep2 = quick(*blue_, *green_, o);
  ASSERT_TRUE(rep2.is_ok());
  EXPECT_EQ(rep2->indices[0].matched, uint64_t{kDocs});
  EXPECT_TRUE(rep2->ok());
}

TEST_F(VerifyIt, ReportsEachKindOfDifference) {
  // missing: deleted on green only.
  ASSERT_TRUE(green_->delete_doc(idx_, DocId("1")).is_ok());
  // stale: changed on blue, not copied.
  ASSERT_TRUE(blue_->index_doc(idx_, DocId("2"), R"({"n":-2})").is_ok());
  // extra: only on green.
  ASSERT_TRUE(green_->index_doc(idx_, DocId("x"), R"({"n":0})", es::VersionSpec{5}).is_ok());
  // newer: green ahead of blue's current version.
  auto d4 = blue_->get(idx_, DocId("4"));
  ASSERT_TRUE(d4.is_ok() && d4->found);
  ASSERT_TRUE(green_
                  ->index_doc(idx_, DocId("4"), d4->source,
                              es::VersionSpec{external_version(Epoch(0), d4->seq_no) + 10})
                  .is_ok());
  // dead-lettered: missing on green, parked in the dead-letter store; id
  // 30 has custom routing, which the re-check must use.
  ASSERT_TRUE(green_->delete_doc(idx_, DocId("30"), std::nullopt, "r30").is_ok());
  auto dir = std::filesystem::temp_directory_path() / testing::unique_name("tverify-state");
  std::filesystem::create_directories(dir);
  auto store = state::open_store((dir / "state.db").string());
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  state::DeadLetter dl;
  dl.source = "load";
  dl.index = idx_;
  dl.doc_id = DocId("30");
  dl.event = "{}";
  dl.error_type = "mapper_parsing_exception";
  ASSERT_TRUE((*store)->add_dead_letter(dl).is_ok());

  Options o = fast_opts();
  auto keys = dead_letter_keys(**store);
  ASSERT_TRUE(keys.is_ok()) << keys.status().to_string();
  o.dead_letters = *keys;
  auto rep = quick(*blue_, *green_, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  const IndexReport& r = rep->indices[0];
  std::string table = render_table(*rep);
  EXPECT_EQ(r.missing, 1u) << table;
  EXPECT_EQ(r.stale, 1u) << table;
  EXPECT_EQ(r.extra, 1u) << table;
  EXPECT_EQ(r.newer, 1u) << table;
  EXPECT_EQ(r.dead_lettered, 1u) << table;
  EXPECT_EQ(r.matched, uint64_t{kDocs - 4}) << table;
  EXPECT_EQ(rep->unexplained(), 4u);
  EXPECT_FALSE(rep->ok());
  for (const auto& d : r.samples) {
    switch (d.kind) {
      case DiffKind::kMissing:
        EXPECT_EQ(d.id.get(), "1");
        break;
      case DiffKind::kStale:
        EXPECT_EQ(d.id.get(), "2");
        break;
      case DiffKind::kExtra:
        EXPECT_EQ(d.id.get(), "x");
        break;
      case DiffKind::kNewer:
        EXPECT_EQ(d.id.get(), "4");
        break;
      case DiffKind::kDeadLettered:
        EXPECT_EQ(d.id.get(), "30");
        EXPECT_EQ(d.underlying, DiffKind::kMissing);
        break;
    }
  }
  json j = to_json(*rep);
  EXPECT_EQ(j["unexplained"], 4);
  EXPECT_EQ(j["indices"][0]["dead_lettered"], 1);

  std::filesystem::remove_all(dir);
}

TEST_F(VerifyIt, DeadLetterAloneIsExplained) {
  ASSERT_TRUE(green_->delete_doc(idx_, DocId("30"), std::nullopt, "r30").is_ok());
  Options o = fast_opts();
  o.dead_letters = {{idx_.get(), "30"}, {"other-index", "1"}};
  auto rep = quick(*blue_, *green_, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok()) << render_table(*rep);
  EXPECT_EQ(rep->indices[0].dead_lettered, 1u);
  EXPECT_EQ(rep->indices[0].matched, uint64_t{kDocs - 1});
  std::string t = render_table(*rep);
  EXPECT_NE(t.find("1 explained, 0 unexplained"), std::string::npos) << t;
}

TEST_F(VerifyIt, InFlightChangeIsNotADifference) {
  // Blue changes after the copy, and the change reaches green (as the
  // loader would) before the re-check: a scan difference the GETs clear.
  ASSERT_TRUE(blue_->index_doc(idx_, DocId("7"), R"({"n":77})").is_ok());
  auto d = blue_->get(idx_, DocId("7"));
  ASSERT_TRUE(d.is_ok());
  ASSERT_TRUE(green_
                  ->index_doc(idx_, DocId("7"), d->source,
                              es::VersionSpec{external_version(Epoch(0), d->seq_no)})
                  .is_ok());
  auto rep = quick(*blue_, *green_, fast_opts());
  ASSERT_TRUE(rep.is_ok());
  EXPECT_TRUE(rep->ok()) << render_table(*rep);
  EXPECT_EQ(rep->indices[0].matched, uint64_t{kDocs});
}

TEST_F(VerifyIt, IndexMissingOnGreenIsUnexplained) {
  ASSERT_TRUE(green_->delete_index(idx_).is_ok());
  auto rep = quick(*blue_, *green_, fast_opts());
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  ASSERT_EQ(rep->indices.size(), 1u);
  EXPECT_EQ(rep->indices[0].problem, "missing on green");
  EXPECT_FALSE(rep->ok());
}

}  // namespace
}  // namespace tandem::verify
