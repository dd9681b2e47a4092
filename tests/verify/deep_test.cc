// Unit tests (no network) for verify --deep's pure parts: the canonical
// content hash, the field-level diff, bucket digests and drill-down plans,
// and the rendering of a report.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <filesystem>

#include "state/state.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

uint64_t H(std::string_view s, const std::vector<std::string>& ignore = {}) {
  auto h = canonical_hash(s, ignore);
  EXPECT_TRUE(h.is_ok()) << s << ": " << h.status().to_string();
  return h.is_ok() ? *h : 0;
}

TEST(CanonicalHash, KeyOrderAndWhitespaceDoNotMatter) {
  EXPECT_EQ(H(R"({"a":1,"b":{"x":"y","z":[1,2]}})"),
            H(R"({ "b" : { "z" : [ 1 , 2 ] , "x" : "y" } , "a" : 1 })"));
}

TEST(CanonicalHash, NumberSpellingDoesNotMatter) {
  EXPECT_EQ(H(R"({"p":1})"), H(R"({"p":1.0})"));
  EXPECT_EQ(H(R"({"p":1})"), H(R"({"p":1e0})"));
  EXPECT_EQ(H(R"({"p":1})"), H(R"({"p":10e-1})"));
  EXPECT_EQ(H(R"({"p":100})"), H(R"({"p":1E2})"));
  EXPECT_EQ(H(R"({"p":1.5})"), H(R"({"p":1.50})"));
  EXPECT_EQ(H(R"({"p":0})"), H(R"({"p":-0.0})"));
  EXPECT_EQ(H(R"({"p":18446744073709551615})"), H(R"({"p":18446744073709551615})"));
}

TEST(CanonicalHash, StringEscapesDoNotMatter) {
  EXPECT_EQ(H(R"({"s":"caf\u00e9 a/b"})"), H("{\"s\":\"caf\xc3\xa9 a\\/b\"}"));
}

TEST(CanonicalHash, RealDifferencesMatter) {
  const uint64_t base = H(R"({"a":1,"tags":["x","y"],"o":{"k":null}})");
  EXPECT_NE(base, H(R"({"a":2,"tags":["x","y"],"o":{"k":null}})"));
  EXPECT_NE(base, H(R"({"a":"1","tags":["x","y"],"o":{"k":null}})"));    // string vs number
  EXPECT_NE(base, H(R"({"a":1,"tags":["y","x"],"o":{"k":null}})"));      // array order
  EXPECT_NE(base, H(R"({"a":1,"tags":["x","y","z"],"o":{"k":null}})"));  // element added
  EXPECT_NE(base, H(R"({"a":1,"tags":["x","y"],"o":{}})"));              // null vs absent
  EXPECT_NE(base, H(R"({"a":1,"tags":["x","y"],"o":{"k":false}})"));     // null vs false
  EXPECT_NE(base, H(R"({"a":1,"tags":["x","y"],"o":{"j":null}})"));      // key renamed
  EXPECT_NE(H(R"({"a":1,"b":2})"), H(R"({"a":2,"b":1})"));               // values swapped
  EXPECT_NE(H(R"({"a":[]})"), H(R"({"a":{}})"));
  EXPECT_NE(H(R"({"a":[[1],[2]]})"), H(R"({"a":[[1,2]]})"));
  EXPECT_NE(H(R"({"a":1.5})"), H(R"({"a":1})"));
  EXPECT_NE(H(R"({"a":{"b":1}})"), H(R"({"a.b":1})"));  // not flattened
  EXPECT_NE(H(R"({"a":9007199254740993})"), H(R"({"a":9007199254740993.0})"));
}

TEST(CanonicalHash, IgnoredPaths) {
  const std::vector<std::string> ign = {"updated_at", "meta.seen"};
  EXPECT_EQ(H(R"({"a":1,"updated_at":5,"meta":{"seen":1,"k":2}})", ign),
            H(R"({"a":1,"meta":{"k":2,"seen":9}})", ign));
  EXPECT_NE(H(R"({"a":1,"meta":{"k":2}})", ign), H(R"({"a":1,"meta":{"k":3}})", ign));
  // Only the exact path: "seen" elsewhere still counts.
  EXPECT_NE(H(R"({"seen":1})", ign), H(R"({"seen":2})", ign));
}

TEST(CanonicalHash, InvalidJsonIsAnError) {
  EXPECT_FALSE(canonical_hash(R"({"a":)").is_ok());
  EXPECT_EQ(canonical_hash("").status().code(), Code::kInvalidArgument);
}

TEST(CanonicalEqual, MatchesTheHash) {
  using nlohmann::json;
  EXPECT_TRUE(canonical_equal(json::parse("1"), json::parse("1.0")));
  EXPECT_TRUE(canonical_equal(json::parse(R"({"a":[1,{"b":2.0}]})"),
                              json::parse(R"({"a":[1.0,{"b":2}]})")));
  EXPECT_FALSE(canonical_equal(json::parse("1"), json::parse("\"1\"")));
  EXPECT_FALSE(canonical_equal(json::parse("[1,2]"), json::parse("[2,1]")));
}

TEST(FieldDiff, NamesChangedAddedRemovedFields) {
  auto d = field_diff(R"({"price":10,"tags":["a"],"color":"red","o":{"x":1}})",
                      R"({"price":12,"tags":["a","b"],"o":{"x":1.0}})");
  std::vector<std::string> want = {"color: removed \"red\"", "price: 10 -> 12",
                                   "tags[1]: added \"b\""};
  EXPECT_EQ(d, want);
}

TEST(FieldDiff, NestedAndTypeChangesAndLimit) {
  auto d = field_diff(R"({"a":{"b":{"c":1}},"n":1})", R"({"a":{"b":{"c":"1"}},"n":null})");
  std::vector<std::string> want = {"a.b.c: 1 -> \"1\"", "n: 1 -> null"};
  EXPECT_EQ(d, want);
  std::string a = "{", b = "{";
  for (int i = 0; i < 20; ++i) {
    a += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
    b += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":2";
  }
  a += "}";
  b += "}";
  auto many = field_diff(a, b, {}, 5);
  ASSERT_EQ(many.size(), 6u);
  EXPECT_EQ(many.back(), "... 15 more");
}

TEST(FieldDiff, LongValuesAreShortenedAndIgnoredPathsSkipped) {
  std::string big(500, 'x');
  auto d = field_diff("{\"s\":\"" + big + "\",\"t\":1}", R"({"s":"y","t":2})", {"t"});
  ASSERT_EQ(d.size(), 1u);
  EXPECT_LT(d[0].size(), 120u);
  EXPECT_NE(d[0].find("..."), std::string::npos);
}

TEST(Buckets, OrderAndSlicingDoNotMatter) {
  std::vector<std::pair<uint64_t, uint64_t>> docs;
  for (int i = 0; i < 1000; ++i) {
    uint64_t ih = id_hash("id" + std::to_string(i));
    docs.push_back({ih, doc_digest(ih, std::nullopt, static_cast<uint64_t>(i) * 7919)});
  }
  BucketSet a(64), b(64), b1(64), b2(64);
  for (auto& [ih, d] : docs) a.add(ih, d);
  std::mt19937 rng(7);
  std::shuffle(docs.begin(), docs.end(), rng);
  for (size_t i = 0; i < docs.size(); ++i) (i % 2 ? b1 : b2).add(docs[i].first, docs[i].second);
  b.merge(b1);
  b.merge(b2);
  EXPECT_TRUE(a.differing(b).empty());
  EXPECT_EQ(a.total(), 1000u);
  EXPECT_EQ(b.total(), 1000u);
}

TEST(Buckets, OneChangedDocumentIsOneDifferingBucket) {
  BucketSet a(64), b(64);
  for (int i = 0; i < 1000; ++i) {
    uint64_t ih = id_hash("id" + std::to_string(i));
    a.add(ih, doc_digest(ih, std::nullopt, 1));
    b.add(ih, doc_digest(ih, i == 500 ? std::optional<std::string>("r") : std::nullopt, 1));
  }
  auto d = a.differing(b);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], a.bucket_of(id_hash("id500")));
  // Routing and content both feed the digest.
  uint64_t ih = id_hash("x");
  EXPECT_NE(doc_digest(ih, std::nullopt, 1), doc_digest(ih, std::string(""), 1));
  EXPECT_NE(doc_digest(ih, std::nullopt, 1), doc_digest(ih, std::nullopt, 2));
  EXPECT_NE(doc_digest(id_hash("x"), std::nullopt, 1), doc_digest(id_hash("y"), std::nullopt, 1));
}

TEST(Buckets, CountAndPlan) {
  EXPECT_EQ(bucket_count(0), 1u);
  EXPECT_EQ(bucket_count(160), 10u);
  EXPECT_EQ(bucket_count(100'000'000), 65536u);
  BucketSet a(4), b(4);
  for (int i = 0; i < 400; ++i) {
    uint64_t ih = id_hash(std::to_string(i));
    a.add(ih, 1);
    b.add(ih, 2);
  }
  std::vector<uint32_t> all = {0, 1, 2, 3};
  auto one = plan_drilldown(a, b, all, 1'000'000);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].size(), 4u);
  // Each bucket holds ~100 docs per side (~200 both): a 250 budget is one
  // bucket per group; a bucket bigger than the budget is a group alone.
  auto split = plan_drilldown(a, b, all, 250);
  EXPECT_EQ(split.size(), 4u);
  auto tiny = plan_drilldown(a, b, all, 1);
  EXPECT_EQ(tiny.size(), 4u);
  size_t n = 0;
  for (auto& g : split) n += g.size();
  EXPECT_EQ(n, 4u);
}

TEST(DeepReport, RendersDifferencesSizesAndParity) {
  DeepReport r;
  r.primary = "blue";
  r.secondary = "green";
  DeepIndexReport i;
  i.index = IndexName("orders");
  i.primary_count = 100;
  i.secondary_count = 100;
  i.content = 1;
  i.primary_sizes = {100, 2048, 1024};
  i.secondary_sizes = {100, 4096, 2048};
  DeepDiff d;
  d.index = i.index;
  d.id = DocId("7");
  d.kind = DeepKind::kContent;
  d.primary_version = 5;
  d.secondary_version = 5;
  d.fields = {"price: 10 -> 12"};
  i.samples.push_back(d);
  r.indices.push_back(i);
  std::string t = render_deep(r);
  EXPECT_NE(t.find("content differs id=7"), std::string::npos) << t;
  EXPECT_NE(t.find("price: 10 -> 12"), std::string::npos) << t;
  EXPECT_NE(t.find("+2048 (+100.0%)"), std::string::npos) << t;
  EXPECT_NE(t.find("content parity: 99.00%"), std::string::npos) << t;
  EXPECT_FALSE(r.ok());
  auto j = deep_to_json(r);
  EXPECT_EQ(j["unexplained"], 1);
  EXPECT_EQ(j["indices"][0]["differences"][0]["kind"], "content differs");
  EXPECT_EQ(j["indices"][0]["sizes"]["delta"]["store_bytes"]["absolute"], 2048);
}

TEST(DeepReport, EmptyIndexIsFullParity) {
  DeepIndexReport i;
  EXPECT_DOUBLE_EQ(i.parity_percent(), 100.0);
  EXPECT_EQ(i.unexplained(), 0u);
}

TEST(LastResult, RoundTripsThroughTheStateStore) {
  auto dir =
      std::filesystem::temp_directory_path() / ("tandem-verify-last-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto store = state::open_store((dir / "state.db").string());
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  auto none = last_result(**store);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  LastResult r{"deep", 1234, 99.5, 3, 1000, 2, "blue->green", true};
  ASSERT_TRUE(record_last(**store, r).is_ok());
  auto got = last_result(**store);
  ASSERT_TRUE(got.is_ok() && got->has_value());
  EXPECT_EQ((*got)->kind, "deep");
  EXPECT_EQ((*got)->time_ms, 1234);
  EXPECT_DOUBLE_EQ((*got)->parity_percent, 99.5);
  EXPECT_EQ((*got)->unexplained, 3u);
  EXPECT_TRUE((*got)->repaired);
  ASSERT_TRUE((*store)->put("verify.last", "garbage").is_ok());
  EXPECT_EQ(last_result(**store).status().code(), Code::kCorruption);
  store->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::verify
