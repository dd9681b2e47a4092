// Integration tests for verify --deep and --repair against real blue (7.17)
// and green (8.x): equal data (in every harmless spelling) has full
// parity; each seeded kind of content difference is found, named, repaired
// through the loader's real apply path and re-verified; a repair racing a
// concurrent update ends at the primary's latest state.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply/apply.h"
#include "es/es.h"
#include "event/event.h"
#include "http/http.h"
#include "support/clusters.h"
#include "support/relay.h"
#include "support/services.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

using nlohmann::json;
using tandem::testing::connect_or_die;

// The CLI's repairer (src/cli/verify_cmd.cc), rebuilt here over the real
// loader apply path: reconcile events through apply::Applier.
class TestRepairer final : public Repairer {
 public:
  TestRepairer(es::Client& p, es::Client& s, Epoch e)
      : sink_(apply::make_es_sink(p, s, sink_opts())),
        applier_(*sink_, nullptr, counters_, apply_opts(e), nullptr),
        epoch_(e) {}
  Result<std::vector<RepairFate>> reconcile(const std::vector<es::DocRef>& refs) override {
    std::vector<apply::Settled> fates;
    TANDEM_RETURN_IF_ERROR(applier_.reconcile_docs(refs, epoch_, &fates));
    std::vector<RepairFate> out;
    for (auto f : fates) {
      out.push_back(f == apply::Settled::kApplied        ? RepairFate::kApplied
                    : f == apply::Settled::kAlreadyNewer ? RepairFate::kAlreadyNewer
                                                         : RepairFate::kFailed);
    }
    return out;
  }

 private:
  static apply::EsSinkOptions sink_opts() {
    apply::EsSinkOptions o;
    o.create_missing_indices = false;
    return o;
  }
  static apply::ApplyOptions apply_opts(Epoch e) {
    apply::ApplyOptions o;
    o.reconcile_epoch = e;
    o.backoff.max = std::chrono::milliseconds(1000);
    return o;
  }
  std::unique_ptr<apply::Sink> sink_;
  apply::Counters counters_;
  apply::Applier applier_;
  Epoch epoch_;
};

class DeepIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", testing::blue_url());
    green_ = connect_or_die("green", testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    idx_ = IndexName(testing::unique_name("tdeep"));
    create_both(idx_);
    es::BulkBuilder bb;
    for (int i = 0; i < kDocs; ++i) {
      json doc = {{"n", i}, {"price", 10}, {"tags", {"a", "b"}}, {"o", {{"x", 1}, {"y", "z"}}}};
      bb.index(idx_, DocId(std::to_string(i)), doc.dump(),
               i % 10 == 0 ? std::optional<std::string>("r" + std::to_string(i)) : std::nullopt);
    }
    // Ids that need escaping in JSON and in URLs.
    bb.index(idx_, DocId("caf\xc3\xa9 / +%20\"q\""), R"({"n":-1})");
    auto r = blue_->bulk(bb, "true");
    ASSERT_TRUE(r.is_ok() && !r->errors) << r.status().to_string();
    copy_blue_to_green();
  }
  void TearDown() override {
    for (const auto& i : cleanup_) {
      if (blue_) (void)blue_->delete_index(i);
      if (green_) (void)green_->delete_index(i);
    }
  }
  void create_both(const IndexName& i) {
    json body = {{"settings", {{"number_of_shards", 2}, {"number_of_replicas", 0}}}};
    ASSERT_TRUE(blue_->create_index(i, body).is_ok());
    ASSERT_TRUE(green_->create_index(i, body).is_ok());
    cleanup_.push_back(i);
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
    for (const auto& it : r->items)
      ASSERT_TRUE(it.ok() || it.version_conflict()) << it.error_reason;
  }
  // Rewrites green's copy of `id` with `source` at blue's current version
  // (version_type=external_gte): the same-version defect of a capture that
  // stored the wrong _source.
  void same_version_on_green(const std::string& id, const std::string& source,
                             const std::optional<std::string>& routing = std::nullopt) {
    auto b = blue_->get(idx_, DocId(id), routing);
    ASSERT_TRUE(b.is_ok() && b->found) << id;
    es::BulkBuilder bb;
    bb.index(idx_, DocId(id), source, routing,
             es::VersionSpec{external_version(Epoch(0), b->seq_no), true});
    auto r = green_->bulk(bb, "true");
    ASSERT_TRUE(r.is_ok() && !r->errors)
        << (r.is_ok() ? r->items[0].error_reason : r.status().to_string());
  }
  // What the loader does for one blue write.
  void load_to_green(const std::string& id) {
    auto b = blue_->get(idx_, DocId(id));
    ASSERT_TRUE(b.is_ok() && b->found);
    auto w = green_->index_doc(idx_, DocId(id), b->source,
                               es::VersionSpec{external_version(Epoch(0), b->seq_no)});
    ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  }
  DeepOptions opts() {
    DeepOptions o;
    o.index_pattern = idx_.get();
    o.recheck_attempts = 2;
    o.grace = std::chrono::milliseconds(100);
    return o;
  }
  json source_of(es::Client& c, const std::string& id,
                 const std::optional<std::string>& routing = std::nullopt) {
    auto d = c.get(idx_, DocId(id), routing);
    EXPECT_TRUE(d.is_ok() && d->found) << c.label() << " " << id;
    return d.is_ok() && d->found ? json::parse(d->source) : json();
  }
  static constexpr int kDocs = 150;
  std::unique_ptr<es::Client> blue_, green_;
  IndexName idx_;
  std::vector<IndexName> cleanup_;
};

TEST_F(DeepIt, EqualDataHasFullParityInBothDirections) {
  // Harmless spellings at the same version: keys reordered, 1.0 for 1,
  // whitespace, escapes.
  same_version_on_green("1", R"({"tags":["a","b"], "price":10.0,"o":{"y":"z","x":1e0},"n":1})");
  same_version_on_green(
      "2",
      R"({ "o" : { "x" : 1 , "y" : "\u007a" } , "n" : 2 , "price" : 10 , "tags" : [ "a" , "b" ] })");
  auto rep = deep(*blue_, *green_, opts());
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  ASSERT_EQ(rep->indices.size(), 1u);
  const auto& r = rep->indices[0];
  std::string t = render_deep(*rep);
  EXPECT_TRUE(rep->ok()) << t;
  EXPECT_EQ(r.primary_count, uint64_t{kDocs + 1}) << t;
  EXPECT_EQ(r.secondary_count, uint64_t{kDocs + 1}) << t;
  EXPECT_EQ(r.differing_buckets, 0u) << t;
  EXPECT_EQ(r.primary_sizes.docs, uint64_t{kDocs + 1});
  EXPECT_GT(r.primary_sizes.store_bytes, 0u);
  EXPECT_GT(r.secondary_sizes.primary_store_bytes, 0u);
  EXPECT_NE(t.find("content parity: 100.00%"), std::string::npos) << t;

  // After a cutover green is the primary; blue holds internal versions,
  // green external ones: content, not versions, is compared.
  auto back = deep(*green_, *blue_, opts());
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_TRUE(back->ok()) << render_deep(*back);
  EXPECT_EQ(back->primary, "green");
}

TEST_F(DeepIt, EmptyIndexAndSlicedBucketedScansAgree) {
  IndexName empty(testing::unique_name("tdeep-empty"));
  create_both(empty);
  DeepOptions o = opts();
  o.index_pattern = empty.get();
  auto rep = deep(*blue_, *green_, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  ASSERT_EQ(rep->indices.size(), 1u);
  EXPECT_TRUE(rep->ok()) << render_deep(*rep);
  EXPECT_EQ(rep->indices[0].primary_count, 0u);

  // Many buckets, tiny drill-down budget, forced scroll: one seeded
  // difference is still found, exactly once.
  same_version_on_green("42", R"({"n":42,"price":11,"tags":["a","b"],"o":{"x":1,"y":"z"}})");
  DeepOptions m = opts();
  m.buckets = 4096;
  m.max_docs_in_memory = 1;
  m.force_scroll = true;
  auto r2 = deep(*blue_, *green_, m);
  ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
  EXPECT_EQ(r2->indices[0].content, 1u) << render_deep(*r2);
  EXPECT_EQ(r2->indices[0].differing_buckets, 1u);
  EXPECT_EQ(r2->unexplained(), 1u);
}

TEST_F(DeepIt, SeededDifferencesAreFoundNamedAndRepaired) {
  // content at the SAME version (only a content comparison sees it).
  same_version_on_green("3", R"({"n":3,"price":12,"tags":["a","b","c"],"o":{"x":1,"y":"z"}})");
  // harmless: reordered keys and 1.0 vs 1 (not differences).
  same_version_on_green("4", R"({"price":10.0,"n":4,"o":{"y":"z","x":1.0},"tags":["a","b"]})");
  // missing: a write green never received (a lost event).
  ASSERT_TRUE(blue_->index_doc(idx_, DocId("new"), R"({"n":1000})").is_ok());
  // extra: written straight to green.
  ASSERT_TRUE(green_->index_doc(idx_, DocId("stray"), R"({"n":-5})").is_ok());
  // content at a LOWER version on green (custom-routed document 20).
  ASSERT_TRUE(
      blue_->index_doc(idx_, DocId("20"), R"({"n":20,"price":99})", std::nullopt, "r20").is_ok());
  // routing: a document green holds under another routing, same content
  // and version (written once on each side, so no tombstone is involved).
  {
    ASSERT_TRUE(blue_->index_doc(idx_, DocId("rt"), R"({"n":5})").is_ok());
    auto b = blue_->get(idx_, DocId("rt"));
    ASSERT_TRUE(b.is_ok() && b->found);
    es::BulkBuilder bb;
    bb.index(idx_, DocId("rt"), b->source, std::string("elsewhere"),
             es::VersionSpec{external_version(Epoch(0), b->seq_no)});
    auto w = green_->bulk(bb, "true");
    ASSERT_TRUE(w.is_ok() && !w->errors);
  }

  auto rep = deep(*blue_, *green_, opts());
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  const auto& r = rep->indices[0];
  std::string t = render_deep(*rep);
  EXPECT_EQ(r.content, 2u) << t;
  EXPECT_EQ(r.missing, 1u) << t;
  EXPECT_EQ(r.extra, 1u) << t;
  EXPECT_EQ(r.routing, 1u) << t;
  EXPECT_EQ(rep->unexplained(), 5u) << t;
  for (const auto& d : r.samples) {
    if (d.id.get() == "3") {
      EXPECT_EQ(d.kind, DeepKind::kContent);
      EXPECT_EQ(d.primary_version, d.secondary_version);
      std::vector<std::string> want = {"price: 10 -> 12", "tags[2]: added \"c\""};
      EXPECT_EQ(d.fields, want) << t;
    } else if (d.id.get() == "20") {
      EXPECT_EQ(d.kind, DeepKind::kContent);
      EXPECT_LT(d.secondary_version, d.primary_version);
    } else if (d.id.get() == "new") {
      EXPECT_EQ(d.kind, DeepKind::kMissing);
    } else if (d.id.get() == "stray") {
      EXPECT_EQ(d.kind, DeepKind::kExtra);
    } else if (d.id.get() == "rt") {
      EXPECT_EQ(d.kind, DeepKind::kRouting);
      EXPECT_EQ(d.secondary_routing, std::optional<std::string>("elsewhere"));
    } else {
      ADD_FAILURE() << "unexpected difference " << d.id.get() << "\n" << t;
    }
  }
  auto j = deep_to_json(*rep);
  EXPECT_EQ(j["unexplained"], 5);

  // Dry run: says what it would do, writes nothing.
  TestRepairer repairer(*blue_, *green_, Epoch(0));
  DeepOptions dry = opts();
  dry.repair = true;
  dry.dry_run = true;
  dry.repairer = &repairer;
  auto d1 = deep(*blue_, *green_, dry);
  ASSERT_TRUE(d1.is_ok()) << d1.status().to_string();
  EXPECT_EQ(d1->unexplained(), 5u);
  for (const auto& d : d1->indices[0].samples)
    EXPECT_EQ(d.repair.rfind("would ", 0), 0u) << d.repair;
  EXPECT_EQ(source_of(*green_, "3")["price"], 12);

  // Repair, then the built-in re-verify.
  DeepOptions fix = opts();
  fix.repair = true;
  fix.repairer = &repairer;
  auto fixed = deep(*blue_, *green_, fix);
  ASSERT_TRUE(fixed.is_ok()) << fixed.status().to_string();
  std::string ft = render_deep(*fixed);
  ASSERT_EQ(fixed->before_repair.size(), 1u) << ft;
  EXPECT_EQ(fixed->before_repair[0].repaired, 5u) << ft;
  EXPECT_TRUE(fixed->ok()) << ft;
  EXPECT_EQ(source_of(*green_, "3")["price"], 10);
  EXPECT_EQ(source_of(*green_, "20", std::string("r20"))["price"], 99);
  EXPECT_EQ(source_of(*green_, "new")["n"], 1000);
  auto stray = green_->get(idx_, DocId("stray"));
  ASSERT_TRUE(stray.is_ok());
  EXPECT_FALSE(stray->found);
  auto grt = green_->get(idx_, DocId("rt"));
  ASSERT_TRUE(grt.is_ok() && grt->found);
  EXPECT_EQ(grt->routing, std::nullopt);
  auto old_copy = green_->get(idx_, DocId("rt"), std::string("elsewhere"));
  ASSERT_TRUE(old_copy.is_ok());
  EXPECT_TRUE(!old_copy->found || old_copy->routing == std::nullopt);
  // And a fresh deep verify agrees.
  auto again = deep(*blue_, *green_, opts());
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->ok()) << render_deep(*again);
}

TEST_F(DeepIt, RepairRacingAConcurrentUpdateEndsAtTheLatestState) {
  same_version_on_green("8", R"({"n":8,"price":13,"tags":["a","b"],"o":{"x":1,"y":"z"}})");
  same_version_on_green("9", R"({"n":9,"price":14,"tags":["a","b"],"o":{"x":1,"y":"z"}})");
  TestRepairer repairer(*blue_, *green_, Epoch(0));
  DeepOptions o = opts();
  o.repair = true;
  o.repairer = &repairer;
  // Between repair's read of blue and its write: blue changes both
  // documents; the loader has already applied 8's change to green, not
  // yet 9's.
  o.before_overwrite = [&](const DeepDiff& d) {
    ASSERT_TRUE(blue_->index_doc(idx_, d.id, R"({"n":0,"price":1000})").is_ok());
    if (d.id.get() == "8") load_to_green("8");
  };
  auto rep = deep(*blue_, *green_, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  std::string t = render_deep(*rep);
  ASSERT_EQ(rep->before_repair.size(), 1u) << t;
  // 8: the repair's older write lost to the loader's newer one (409).
  EXPECT_EQ(rep->before_repair[0].repair_already_newer, 1u) << t;
  EXPECT_EQ(source_of(*green_, "8")["price"], 1000);
  // 9: the repair wrote blue's state as of its read; the loader's newer
  // write then wins over it.
  load_to_green("9");
  EXPECT_EQ(source_of(*green_, "9")["price"], 1000);
  auto again = deep(*blue_, *green_, opts());
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->ok()) << render_deep(*again);
}

TEST_F(DeepIt, AfterCutoverGreenIsThePrimaryAndRepairWritesTheNewEpoch) {
  // Epoch 1: green is the primary, blue the secondary (it still holds its
  // own internal versions from before the cutover).
  ASSERT_TRUE(green_->index_doc(idx_, DocId("11"), R"({"n":11,"price":55})").is_ok());
  ASSERT_TRUE(blue_->index_doc(idx_, DocId("old"), R"({"n":-11})").is_ok());
  TestRepairer repairer(*green_, *blue_, Epoch(1));
  DeepOptions o = opts();
  o.epoch = Epoch(1);
  o.repair = true;
  o.repairer = &repairer;
  auto rep = deep(*green_, *blue_, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  std::string t = render_deep(*rep);
  ASSERT_EQ(rep->before_repair.size(), 1u) << t;
  EXPECT_EQ(rep->before_repair[0].content, 1u) << t;
  EXPECT_EQ(rep->before_repair[0].extra, 1u) << t;
  EXPECT_EQ(rep->before_repair[0].repaired, 2u) << t;
  EXPECT_TRUE(rep->ok()) << t;
  auto b = blue_->get(idx_, DocId("11"));
  ASSERT_TRUE(b.is_ok() && b->found);
  EXPECT_EQ(json::parse(b->source)["price"], 55);
  EXPECT_GE(static_cast<uint64_t>(b->version), uint64_t{1} << 48);  // the new epoch's versions
  auto gone = blue_->get(idx_, DocId("old"));
  ASSERT_TRUE(gone.is_ok());
  EXPECT_FALSE(gone->found);
}

TEST_F(DeepIt, IgnoredFieldsAreNotShippedNorCompared) {
  // Green's copy gained a field (an ingest pipeline) and a nested value
  // changed: both ignored, no difference; without the ignore list, one.
  same_version_on_green(
      "6", R"({"n":6,"price":10,"tags":["a","b"],"o":{"x":1,"y":"CHANGED"},"ingested_at":"2026"})");
  DeepOptions o = opts();
  o.ignore_fields = {"ingested_at", "o.y"};
  auto rep = deep(*blue_, *green_, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok()) << render_deep(*rep);
  auto strict = deep(*blue_, *green_, opts());
  ASSERT_TRUE(strict.is_ok());
  ASSERT_EQ(strict->indices[0].content, 1u) << render_deep(*strict);
  std::vector<std::string> want = {"ingested_at: added \"2026\"", "o.y: \"z\" -> \"CHANGED\""};
  EXPECT_EQ(strict->indices[0].samples.at(0).fields, want);
}

TEST_F(DeepIt, HugeDocumentIsComparedAndItsDiffIsShort) {
  std::string big(2 << 20, 'x');  // a 2 MiB string field
  ASSERT_TRUE(blue_->index_doc(idx_, DocId("huge"), json{{"blob", big}, {"n", 1}}.dump()).is_ok());
  load_to_green("huge");
  auto rep = deep(*blue_, *green_, opts());
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok()) << render_deep(*rep);
  big[123456] = 'y';
  same_version_on_green("huge", json{{"blob", big}, {"n", 1}}.dump());
  auto diff = deep(*blue_, *green_, opts());
  ASSERT_TRUE(diff.is_ok()) << diff.status().to_string();
  ASSERT_EQ(diff->indices[0].content, 1u);
  const auto& d = diff->indices[0].samples.at(0);
  ASSERT_EQ(d.fields.size(), 1u);
  EXPECT_EQ(d.fields[0].rfind("blob: ", 0), 0u);
  EXPECT_LT(d.fields[0].size(), 200u);
}

TEST_F(DeepIt, InFlightChangeIsNotReportedAndIndexMissingIsAProblem) {
  // Blue changes; the loader delivers it to green 300 ms later, inside the
  // grace window: the scans see a difference, the re-checks clear it.
  ASSERT_TRUE(blue_->index_doc(idx_, DocId("7"), R"({"n":77})").is_ok());
  std::thread loader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    load_to_green("7");
  });
  DeepOptions o = opts();
  o.recheck_attempts = 4;
  o.grace = std::chrono::milliseconds(3000);
  auto rep = deep(*blue_, *green_, o);
  loader.join();
  ASSERT_TRUE(rep.is_ok());
  EXPECT_TRUE(rep->ok()) << render_deep(*rep);
  EXPECT_GE(rep->indices[0].resolved_in_flight, 1u);

  ASSERT_TRUE(green_->delete_index(idx_).is_ok());
  auto gone = deep(*blue_, *green_, opts());
  ASSERT_TRUE(gone.is_ok()) << gone.status().to_string();
  EXPECT_EQ(gone->indices[0].problem, "missing on green");
  EXPECT_FALSE(gone->ok());
}

// Green goes away mid-scan (connections reset, new ones refused). A PIT page
// is asked again unchanged until green is back, and the run ends at full
// parity, each retry told; an outage longer than --scan-retry-ms fails the
// run naming the cluster and index; a scroll page is never asked again (it
// could skip a page) and fails at once, saying so.
TEST_F(DeepIt, SideUnreachableMidScanIsAskedAgainOrFailsNamed) {
  auto green_url = http::Url::parse(testing::green_url());
  ASSERT_TRUE(green_url.is_ok());
  // One deep run against green through a relay that cuts green off for
  // `down` after green's first scan page; the relay is gone (its outage
  // over) when this returns.
  auto run_cut = [&](DeepOptions o, std::chrono::milliseconds down) -> Result<DeepReport> {
    testing::FlakyEndpoint endpoint(green_url->host, green_url->port);
    auto via = connect_or_die("green", endpoint.url());
    if (!via) return Status(Code::kInternal, "no client through the relay");
    auto cut = std::make_shared<std::atomic<bool>>(false);
    o.batch_size = 10;  // many pages: the cut lands mid-scan
    o.after_page = [&endpoint, cut, down](int side) {
      if (side == 1 && !cut->exchange(true)) endpoint.outage(std::chrono::milliseconds(0), down);
    };
    return deep(*blue_, *via, o);
  };
  const std::string named = "cluster 'green' index '" + idx_.get() + "'";

  {  // Down for 1.5 s, well inside the retry budget.
    std::vector<std::string> told;
    std::mutex told_mu;
    DeepOptions o = opts();
    o.scan_retry = std::chrono::milliseconds(30'000);
    o.scan_retry_interval = std::chrono::milliseconds(200);
    o.on_retry = [&](const std::string& line) {
      std::lock_guard<std::mutex> l(told_mu);
      told.push_back(line);
    };
    auto rep = run_cut(o, std::chrono::milliseconds(1500));
    ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
    EXPECT_TRUE(rep->ok()) << render_deep(*rep);
    EXPECT_EQ(rep->indices[0].secondary_count, uint64_t{kDocs + 1}) << render_deep(*rep);
    ASSERT_FALSE(told.empty()) << "no page was asked again: the outage missed the scan";
    EXPECT_NE(told[0].find(named), std::string::npos) << told[0];
  }
  {  // Down for 3 s with a 1 s budget: fails, named.
    DeepOptions o = opts();
    o.scan_retry = std::chrono::milliseconds(1000);
    o.scan_retry_interval = std::chrono::milliseconds(200);
    auto rep = run_cut(o, std::chrono::milliseconds(3000));
    ASSERT_FALSE(rep.is_ok()) << render_deep(*rep);
    const std::string m = rep.status().to_string();
    EXPECT_NE(m.find(named), std::string::npos) << m;
    EXPECT_NE(m.find("still failing after"), std::string::npos) << m;
  }
  {  // Scroll: not asked again.
    DeepOptions o = opts();
    o.force_scroll = true;
    auto rep = run_cut(o, std::chrono::milliseconds(1500));
    ASSERT_FALSE(rep.is_ok()) << render_deep(*rep);
    const std::string m = rep.status().to_string();
    EXPECT_NE(m.find(named), std::string::npos) << m;
    EXPECT_NE(m.find("scroll page cannot be asked again"), std::string::npos) << m;
  }
}
}  // namespace
}  // namespace tandem::verify
