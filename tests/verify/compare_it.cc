// Integration tests for `tandem compare`'s engine against real blue (7.17)
// and green (8.x) holding the same documents: a realistic read mix matches
// (after normalization), and two queries that really behave differently on
// 8.x show up as mismatches with their shapes.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "es/es.h"
#include "support/clusters.h"
#include "support/services.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

using nlohmann::json;
using tandem::testing::connect_or_die;

class CompareIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", testing::blue_url());
    green_ = connect_or_die("green", testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    idx_ = IndexName(testing::unique_name("tcompare"));
    json body = {{"settings", {{"number_of_shards", 1}, {"number_of_replicas", 0}}},
                 {"mappings",
                  {{"properties",
                    {{"title", {{"type", "text"}}},
                     {"brand", {{"type", "keyword"}}},
                     {"price", {{"type", "double"}}},
                     {"n", {{"type", "integer"}}},
                     {"ts", {{"type", "date"}, {"format", "epoch_second"}}}}}}}};
    const char* brands[] = {"acme", "globex", "initech"};
    const char* words[] = {"red shoe", "blue shoe", "green hat", "red hat", "quiet fan"};
    es::BulkBuilder bb;
    for (int i = 0; i < 40; ++i) {
      json d = {{"title", std::string(words[i % 5]) + " " + std::to_string(i)},
                {"brand", brands[i % 3]},
                {"price", 5.5 + i},
                {"n", i},
                {"ts", 1600000000 + i * 60}};
      bb.index(idx_, DocId(std::to_string(i)), d.dump());
    }
    for (es::Client* c : {blue_.get(), green_.get()}) {
      ASSERT_TRUE(c->create_index(idx_, body).is_ok());
      auto r = c->bulk(bb, "true");
      ASSERT_TRUE(r.is_ok() && !r->errors) << c->label();
    }
  }
  void TearDown() override {
    if (blue_) (void)blue_->delete_index(idx_);
    if (green_) (void)green_->delete_index(idx_);
  }
  Query search(const json& body, const std::string& params = "") {
    return Query{"POST", "/" + idx_.get() + "/_search" + params, body.dump()};
  }
  std::unique_ptr<es::Client> blue_, green_;
  IndexName idx_;
};

TEST_F(CompareIt, RealisticMixMatchesAndRealBehaviourChangesMismatch) {
  std::vector<Query> qs = {
      search({{"query", {{"match", {{"title", "red shoe"}}}}}}),
      search({{"query", {{"term", {{"brand", "acme"}}}}}}),
      search({{"query", {{"range", {{"price", {{"gte", 10}, {"lt", 20}}}}}}}}),
      search({{"query",
               {{"bool",
                 {{"must", {{{"match", {{"title", "hat"}}}}}},
                  {"filter", {{{"term", {{"brand", "globex"}}}}}},
                  {"must_not", {{{"range", {{"n", {{"gt", 30}}}}}}}}}}}}}),
      search({{"size", 0},
              {"aggs",
               {{"brands", {{"terms", {{"field", "brand"}}}}},
                {"avg_price", {{"avg", {{"field", "price"}}}}}}}}),
      search({{"sort", {{{"price", "desc"}}}}, {"size", 5}}),
      search({{"sort", {{{"n", "asc"}}}}, {"from", 10}, {"size", 5}}),
      search({{"query", {{"match", {{"title", "shoe"}}}}},
              {"highlight", {{"fields", {{"title", json::object()}}}}}}),
      search({{"_source", {"brand", "n"}}, {"query", {{"match_all", json::object()}}}}),
      Query{"GET", "/" + idx_.get() + "/_doc/7", ""},
      Query{"POST", "/" + idx_.get() + "/_count", R"({"query":{"term":{"brand":"initech"}}})"},
      // Differs on 8.x: a numeric range on an epoch_second date (7.17
      // reads the numbers as seconds, 8.x does not match them).
      search({{"query", {{"range", {{"ts", {{"gte", 1600000000}, {"lte", 1600000600}}}}}}}}),
      // Errors on 8.x only: sorting on _id (fielddata disallowed).
      search({{"sort", {{{"_id", "asc"}}}}}),
      // A write is never replayed.
      Query{"POST", "/" + idx_.get() + "/_doc", R"({"n":1})"},
  };
  auto rep = compare(*blue_, *green_, qs, CompareOptions{});
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  std::string t = render_compare(*rep);
  EXPECT_EQ(rep->skipped, 1u) << t;
  EXPECT_EQ(rep->mismatched, 2u) << t;
  EXPECT_EQ(rep->matched, qs.size() - 3) << t;
  EXPECT_FALSE(rep->ok());
  bool saw_range = false, saw_id_sort = false;
  for (const auto& s : rep->shapes) {
    if (s.mismatched == 0) continue;
    if (s.shape.find("\"ts\"") != std::string::npos) {
      saw_range = true;
      bool total_line = false;
      for (const auto& l : s.example_diff) total_line |= l.find("body.hits.total") == 0;
      EXPECT_TRUE(total_line) << t;
    }
    if (s.shape.find("\"_id\"") != std::string::npos) {
      saw_id_sort = true;
      bool status_line = false;
      for (const auto& l : s.example_diff) status_line |= l == "status: 200 -> 400";
      EXPECT_TRUE(status_line) << t;
    }
  }
  EXPECT_TRUE(saw_range) << t;
  EXPECT_TRUE(saw_id_sort) << t;
  // Writes were not sent: the count is unchanged on both sides.
  ASSERT_TRUE(blue_->refresh(idx_).is_ok());
  EXPECT_EQ(*blue_->count(idx_), 40u);
}

}  // namespace
}  // namespace tandem::verify
