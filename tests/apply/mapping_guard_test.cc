// Mappings before documents: the field-path walk, MappingGuard, and the
// Applier's cover (before a bulk) and heal (after a mapping refusal), over
// the in-process fakes.
#include <gtest/gtest.h>

#include "apply/apply.h"
#include "apply/fakes.h"
#include "apply/test_util.h"

namespace tandem::apply {
namespace {

using namespace tandem::apply::testing;
using nlohmann::json;

std::vector<std::string> unmapped(const std::string& src, const json& mapping) {
  auto r = unmapped_paths(src, FieldMap(mapping), 100);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? *r : std::vector<std::string>{};
}

using V = std::vector<std::string>;

TEST(FieldMap, WalksObjectsDottedKeysAndArraysOfObjects) {
  json m = json::parse(R"({"properties":{
      "a":{"type":"long"},
      "o":{"properties":{"x":{"type":"keyword"},"in":{"type":"nested","properties":{"y":{"type":"long"}}}}},
      "loc":{"type":"geo_point"},
      "off":{"type":"object","enabled":false},
      "fl":{"type":"flattened"}},
    "runtime":{"r.t":{"type":"keyword"}}})");
  EXPECT_EQ(unmapped(R"({"a":1,"o":{"x":"k"}})", m), V{});
  EXPECT_EQ(unmapped(R"({"a":1,"b":2})", m), V{"b"});
  // A dotted key is the path it spells; objects inside arrays too.
  EXPECT_EQ(unmapped(R"({"o.x":"k","o.z":1})", m), V{"o.z"});
  EXPECT_EQ(unmapped(R"({"o":{"in":[{"y":1},{"y":2,"q":true}]}})", m), V{"o.in.q"});
  // Inside a leaf value (geo_point object), a disabled object or a
  // flattened field nothing is a path of its own.
  EXPECT_EQ(unmapped(R"({"loc":{"lat":1,"lon":2},"off":{"k":1},"fl":{"any":{"thing":1}}})", m),
            V{});
  EXPECT_EQ(unmapped(R"({"r":{"t":"x"}})", json::parse(R"({"runtime":{"r.t":{}}})")), V{"r"});
  EXPECT_EQ(unmapped(R"({"r.t":"x"})", m), V{});
  // Values that map nothing: null, [], [null].
  EXPECT_EQ(unmapped(R"({"n":null,"e":[],"en":[null,null],"s":[null,"x"]})", m), V{"s"});
  // An unknown object is reported once, at its own path.
  EXPECT_EQ(unmapped(R"({"new":{"deep":{"er":1}}})", m), V{"new"});
  // Escaped keys are compared unescaped.
  EXPECT_EQ(unmapped(R"({"\u0061":1})", m), V{});
  // A 6.x typed mapping.
  EXPECT_EQ(
      unmapped(R"({"a":1,"b":1})", json::parse(R"({"_doc":{"properties":{"a":{"type":"long"}}}})")),
      V{"b"});
  EXPECT_FALSE(unmapped_paths("[1,2]", FieldMap(m)).is_ok());
  EXPECT_FALSE(unmapped_paths("{\"a\":", FieldMap(m)).is_ok());
}

TEST(MappingGuard, SyncsOnlyForFieldsNotBroughtOverYet) {
  int syncs = 0;
  json primary = json::parse(R"({"properties":{"a":{"type":"long"}}})");
  MappingGuard g(
      [&](const IndexName&) -> Result<json> {
        ++syncs;
        return primary;
      },
      std::chrono::milliseconds(60000));
  ASSERT_TRUE(g.cover(IndexName("i"), {R"({"a":1})"}).is_ok());
  EXPECT_EQ(syncs, 1);  // nothing known yet
  ASSERT_TRUE(g.cover(IndexName("i"), {R"({"a":2})", R"({"a":null})"}).is_ok());
  EXPECT_EQ(syncs, 1);
  // The primary does not map "u" (dynamic: false): one sync, then it is
  // remembered as unmapped there until the interval passes.
  ASSERT_TRUE(g.cover(IndexName("i"), {R"({"a":1,"u":1})"}).is_ok());
  EXPECT_EQ(syncs, 2);
  ASSERT_TRUE(g.cover(IndexName("i"), {R"({"u":2})"}).is_ok());
  EXPECT_EQ(syncs, 2);
  // A new field: sync again.
  primary["properties"]["b"] = {{"type", "keyword"}};
  ASSERT_TRUE(g.cover(IndexName("i"), {R"({"b":"x"})"}).is_ok());
  EXPECT_EQ(syncs, 3);
  // After a metadata event everything is looked at again.
  g.forget();
  ASSERT_TRUE(g.cover(IndexName("i"), {R"({"b":"x"})"}).is_ok());
  EXPECT_EQ(syncs, 4);
  // Heal: once per index per interval.
  ASSERT_TRUE(g.heal(IndexName("i")).is_ok());
  ASSERT_TRUE(g.heal(IndexName("i")).is_ok());
  EXPECT_EQ(syncs, 5);
  ASSERT_TRUE(g.heal(IndexName("j")).is_ok());
  EXPECT_EQ(syncs, 6);
}

TEST(MappingGuard, IndexGoneOnThePrimaryIsNotAnErrorOtherFailuresAre) {
  Status next = Status(Code::kNotFound, "gone");
  MappingGuard g([&](const IndexName&) -> Result<json> { return next; });
  EXPECT_TRUE(g.cover(IndexName("i"), {R"({"a":1})"}).is_ok());
  next = Status(Code::kUnavailable, "503");
  EXPECT_EQ(g.cover(IndexName("i"), {R"({"a":1})"}).code(), Code::kUnavailable);
  // A refusal for good (the secondary will not take the mapping) is
  // returned once; within the interval later bulks do not ask again.
  int calls = 0;
  MappingGuard h(
      [&](const IndexName&) -> Result<json> {
        ++calls;
        return Status(Code::kInvalidArgument, "cannot express");
      },
      std::chrono::milliseconds(60000));
  EXPECT_EQ(h.cover(IndexName("i"), {R"({"a":1})"}).code(), Code::kInvalidArgument);
  EXPECT_TRUE(h.cover(IndexName("i"), {R"({"a":1})"}).is_ok());
  EXPECT_EQ(calls, 1);
}

// Blue mapped n as long (its first value was 5); green has never seen n.
// Green's own dynamic mapping would guess float from 5.5, with no error at
// all: the guard brings blue's mapping over before the document is written.
TEST(ApplierMappings, BringsThePrimarysMappingBeforeADocumentNeedsIt) {
  FakeSink sink;
  sink.guard_mappings = true;
  sink.primary_fields["i"] = {{"n", "long"}};
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  auto d2 = item(ev_index("i", "2", 1, R"({"n":5.5})"));
  ASSERT_TRUE(a.apply_data({&d2}).is_ok());
  EXPECT_EQ(sink.secondary_fields()["i"]["n"], "long");
  EXPECT_EQ(sink.mapping_syncs(), 1);
  auto d1 = item(ev_index("i", "1", 0, R"({"n":5})"));
  ASSERT_TRUE(a.apply_data({&d1}).is_ok());
  EXPECT_EQ(sink.mapping_syncs(), 1);  // n is known now
  EXPECT_EQ(c.applied, 2u);
  EXPECT_EQ(*(*store).count_dead_letters(), 0);
}

TEST(ApplierMappings, WithoutTheGuardTheSecondaryGuessesDifferently) {
  FakeSink sink;  // the fake's dynamic mapping, for contrast with the test above
  sink.primary_fields["i"] = {{"n", "long"}};
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  auto d2 = item(ev_index("i", "2", 1, R"({"n":5.5})"));
  ASSERT_TRUE(a.apply_data({&d2}).is_ok());
  EXPECT_EQ(sink.secondary_fields()["i"]["n"], "float");
}

// A strict secondary refuses a document whose field arrived in a mapping
// change the loader has not applied (another partition, another loader).
// Only the heal is on here (a sink that does not check documents first):
// the refusal brings the primary's mapping and the document's one retry
// succeeds. A document that is simply bad is dead-lettered after its one
// retry, and a second one within the interval reads no mapping again.
TEST(ApplierMappings, MappingRefusalHealsOnceThenDeadLetters) {
  FakeSink sink;
  sink.guard_mappings = true;
  sink.guard_cover = false;
  sink.strict_indices.insert("i");
  sink.primary_fields["i"] = {{"a", "keyword"}, {"b", "long"}};
  sink.set_secondary_field("i", "a", "keyword");
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  auto good = item(ev_index("i", "1", 0, R"({"a":"x","b":1})"));
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data({&good}, &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kApplied);
  EXPECT_EQ(sink.secondary_fields()["i"]["b"], "long");
  EXPECT_EQ(sink.mapping_syncs(), 1);
  EXPECT_EQ(*(*store).count_dead_letters(), 0);

  auto bad = item(ev_index("i", "2", 0, R"({"zz":1})"));  // blue has no zz either
  ASSERT_TRUE(a.apply_data({&bad}, &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kDeadLettered);
  auto bad2 = item(ev_index("i", "3", 0, R"({"zz":2})"));
  ASSERT_TRUE(a.apply_data({&bad2}, &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kDeadLettered);
  EXPECT_EQ(sink.mapping_syncs(), 1);  // healed once within the interval
  auto dl = (*store).dead_letters();
  ASSERT_TRUE(dl.is_ok());
  ASSERT_EQ(dl->size(), 2u);
  EXPECT_EQ((*dl)[0].error_type, "strict_dynamic_mapping_exception");
}

TEST(ApplierMappings, ClassifiesMappingErrors) {
  auto item_of = [](int status, std::string type, std::string reason) {
    es::BulkItem it;
    it.op = "index";
    it.status = status;
    it.error_type = std::move(type);
    it.error_reason = std::move(reason);
    return it;
  };
  EXPECT_TRUE(is_mapping_error(item_of(400, "strict_dynamic_mapping_exception", "")));
  EXPECT_TRUE(is_mapping_error(item_of(400, "document_parsing_exception", "")));
  EXPECT_TRUE(is_mapping_error(item_of(400, "mapper_parsing_exception", "")));
  EXPECT_TRUE(is_mapping_error(item_of(400, "illegal_argument_exception",
                                       "Limit of total fields [1000] has been exceeded")));
  EXPECT_FALSE(is_mapping_error(item_of(400, "illegal_argument_exception", "bad version")));
  EXPECT_FALSE(is_mapping_error(item_of(429, "es_rejected_execution_exception", "")));
  EXPECT_FALSE(is_mapping_error(item_of(409, "version_conflict_engine_exception", "")));
}

}  // namespace
}  // namespace tandem::apply
