// From real ES 7.17 / 8.x answers to change events.
#include "proxy/capture_events.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "capture_testdata.h"

namespace tandem::proxy::detail {
namespace {

using event::Op;
using proxy::testing::testdata;

const EventContext kCtx{Epoch(3), 1700000000000};

DocRequest doc(DocOp op, std::optional<std::string> id, std::string body = "",
               std::optional<std::string> routing = std::nullopt) {
  DocRequest r;
  r.op = op;
  r.index = IndexName("alias-or-index");
  if (id) r.id = DocId(std::move(*id));
  r.body = std::move(body);
  r.routing = std::move(routing);
  return r;
}

class Versions : public ::testing::TestWithParam<std::string> {
 protected:
  std::string data(const std::string& name) { return testdata(GetParam() + "_" + name); }
  std::string index() { return "capture-td-" + GetParam(); }
};

TEST_P(Versions, IndexWithRouting) {
  auto oc = doc_outcome(doc(DocOp::kIndex, "d1", " {\"n\":5}\n", "r1"), 201, data("doc_index.json"),
                        kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  const auto& e = oc.events[0];
  EXPECT_EQ(e.op, Op::kIndex);
  EXPECT_EQ(e.index.get(), index());  // concrete index from the answer
  EXPECT_EQ(e.id.get(), "d1");
  EXPECT_EQ(e.routing, "r1");
  EXPECT_EQ(e.seq_no.get(), 7);
  EXPECT_EQ(e.primary_term.get(), 1);
  EXPECT_EQ(e.epoch.get(), 3u);
  EXPECT_EQ(e.timestamp_ms, kCtx.now_ms);
  EXPECT_EQ(e.source, "{\"n\":5}");
  EXPECT_EQ(oc.client_body, data("doc_index.json"));
}

TEST_P(Versions, AutoIdComesFromTheAnswer) {
  auto oc = doc_outcome(doc(DocOp::kIndex, std::nullopt, "{\"n\":6}"), 201, data("doc_autoid.json"),
                        kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].id.get().size(), 20u);
  EXPECT_EQ(oc.events[0].seq_no.get(), 8);
}

TEST_P(Versions, CreateConflictIsNothing) {
  auto oc = doc_outcome(doc(DocOp::kCreate, "d1", "{\"n\":7}"), 409,
                        data("doc_create_conflict.json"), kCtx);
  EXPECT_TRUE(oc.events.empty());
  EXPECT_EQ(oc.client_body, data("doc_create_conflict.json"));
}

TEST_P(Versions, UpdateWithInjectedSourceIsStripped) {
  auto req = doc(DocOp::kUpdate, "d1", "", "r1");
  req.update_source = bulk::UpdateSource::kInjected;
  std::string answer = data("doc_update_source.json");
  auto oc = doc_outcome(req, 200, answer, kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kIndex);
  EXPECT_EQ(oc.events[0].source, R"({"n":5,"m":1})");
  EXPECT_EQ(oc.events[0].seq_no.get(), 9);
  // Byte-exact: the answer minus ,"get":{...}
  size_t at = answer.find(",\"get\":");
  ASSERT_NE(at, std::string::npos);
  std::string want = answer.substr(0, at) + "}";
  EXPECT_EQ(oc.client_body, want);
}

TEST_P(Versions, UpdateClientAskedKeepsGet) {
  auto req = doc(DocOp::kUpdate, "d2");
  req.update_source = bulk::UpdateSource::kClientAsked;
  std::string answer = data("doc_update_pretty.json");
  auto oc = doc_outcome(req, 201, answer, kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].source, "{\n      \"m\" : 1\n    }");
  EXPECT_EQ(oc.client_body, answer);
}

TEST_P(Versions, UpdatePrettyInjectedStripKeepsValidJson) {
  auto req = doc(DocOp::kUpdate, "d2");
  req.update_source = bulk::UpdateSource::kInjected;
  auto oc = doc_outcome(req, 201, data("doc_update_pretty.json"), kCtx);
  EXPECT_EQ(oc.client_body.find("\"get\""), std::string::npos);
  auto j = nlohmann::json::parse(oc.client_body);
  EXPECT_EQ(j["_seq_no"], 14);
}

TEST_P(Versions, UpdateWithoutSourceIsReconcile) {
  auto req = doc(DocOp::kUpdate, "d1", "", "r1");
  req.update_source = bulk::UpdateSource::kUnavailable;
  auto oc = doc_outcome(req, 200, data("doc_update_plain.json"), kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kReconcile);
  EXPECT_EQ(oc.events[0].seq_no.get(), 10);
  EXPECT_EQ(oc.events[0].routing, "r1");
}

TEST_P(Versions, UpdateWithAClientFilteredSourceIsReconcileNotThePartialDocument) {
  // POST /ix/_update/d1?_source_includes=n answers get._source = {"n":5}:
  // a projection. An index event from it would overwrite the secondary
  // with the projection at the primary's version (no backfill can fix
  // that: same version, 409). The answer's get stays the client's.
  std::string answer = data("doc_update_source.json");
  size_t at = answer.find(R"("_source":{"n":5,"m":1})");
  ASSERT_NE(at, std::string::npos);
  answer.replace(at, 23, R"("_source":{"n":5})");
  auto req = doc(DocOp::kUpdate, "d1", "", "r1");
  req.update_source = bulk::UpdateSource::kUnavailable;
  auto oc = doc_outcome(req, 200, answer, kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kReconcile);
  EXPECT_TRUE(oc.events[0].source.empty());
  EXPECT_EQ(oc.events[0].seq_no.get(), 9);
  EXPECT_EQ(oc.events[0].routing, "r1");
  EXPECT_EQ(oc.client_body, answer);
}

TEST_P(Versions, BulkUpdateWithAFilteredSourceIsReconcile) {
  // Every filtered form on a bulk update item: the action line's list,
  // includes object or string, the source line's own _source, and URL
  // defaults. Each item's get._source is a projection.
  const std::string body =
      "{\"update\":{\"_id\":\"a\",\"_source\":[\"n\"]}}\n{\"doc\":{\"n\":1}}\n"
      "{\"update\":{\"_id\":\"b\",\"_source\":{\"includes\":\"n\"}}}\n{\"doc\":{\"n\":1}}\n"
      "{\"update\":{\"_id\":\"c\",\"_source\":\"true\"}}\n{\"doc\":{\"n\":1}}\n"
      "{\"update\":{\"_id\":\"d\"}}\n{\"doc\":{\"n\":1},\"_source\":\"n\"}\n"
      "{\"update\":{\"_id\":\"e\",\"_source\":true}}\n{\"doc\":{\"n\":1}}\n";
  auto parsed = bulk::parse_request(body, {});
  ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string();
  ASSERT_EQ(parsed->items.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(parsed->items[i].update_source, bulk::UpdateSource::kUnavailable) << i;
  }
  EXPECT_EQ(parsed->items[4].update_source, bulk::UpdateSource::kClientAsked);
  std::string items;
  for (char id : std::string("abcde")) {
    if (!items.empty()) items += ",";
    items += std::string(R"({"update":{"_index":"ix","_type":"_doc","_id":")") + id +
             R"(","_version":2,"result":"updated","_shards":{"total":1,"successful":1,"failed":0},)"
             R"("_seq_no":7,"_primary_term":1,"status":200,"get":{"_seq_no":7,"_primary_term":1,)"
             R"("found":true,"_source":{"n":1}}}})";
  }
  BulkRequest req;
  req.forwarded = body;
  req.parsed = std::move(parsed).value();
  std::string answer = R"({"took":3,"errors":false,"items":[)" + items + "]}";
  auto oc = bulk_outcome(req, 200, answer, kCtx);
  ASSERT_EQ(oc.events.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(oc.events[i].op, Op::kReconcile) << i;
  EXPECT_EQ(oc.events[4].op, Op::kIndex);
  EXPECT_EQ(oc.events[4].source, R"({"n":1})");
  EXPECT_EQ(oc.client_body, answer);

  // URL-level: _source_includes (any value of _source=true alongside it
  // still filters), and _source=<fields>.
  for (bulk::Defaults d :
       {bulk::Defaults{.source = "true", .source_filtered = true}, bulk::Defaults{.source = "n"}}) {
    auto url = bulk::parse_request("{\"update\":{\"_id\":\"a\"}}\n{\"doc\":{}}\n", d);
    ASSERT_TRUE(url.is_ok());
    EXPECT_EQ(url->items[0].update_source, bulk::UpdateSource::kUnavailable);
    EXPECT_FALSE(url->rewritten.has_value());
  }
}

TEST_P(Versions, Deletes) {
  auto oc = doc_outcome(doc(DocOp::kDelete, "d1", "", "r1"), 200, data("doc_delete.json"), kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kDelete);
  EXPECT_EQ(oc.events[0].seq_no.get(), 12);
  // A delete of a missing document still has a seq_no: a tombstone.
  auto missing =
      doc_outcome(doc(DocOp::kDelete, "never"), 404, data("doc_delete_missing.json"), kCtx);
  ASSERT_EQ(missing.events.size(), 1u);
  EXPECT_EQ(missing.events[0].op, Op::kDelete);
  EXPECT_EQ(missing.events[0].seq_no.get(), 13);
  // A missing index is not an operation.
  auto noindex = doc_outcome(doc(DocOp::kDelete, "x"), 404, data("doc_delete_noindex.json"), kCtx);
  EXPECT_TRUE(noindex.events.empty());
}

TEST_P(Versions, MixedBulk) {
  BulkRequest req;
  req.forwarded = data("bulk_mixed.ndjson");
  auto parsed = bulk::parse_request(req.forwarded, {});
  ASSERT_TRUE(parsed.is_ok());
  ASSERT_TRUE(parsed->rewritten);
  // The recorded answer is for the unrewritten request; only the spans
  // matter here, so forward the original bytes.
  parsed->rewritten.reset();
  for (auto& it : parsed->items) {
    if (it.update_source == bulk::UpdateSource::kInjected) {
      it.update_source = bulk::UpdateSource::kUnavailable;
    }
  }
  req.parsed = std::move(parsed).value();
  std::string answer = data("bulk_mixed.json");
  auto oc = bulk_outcome(req, 200, answer, kCtx);
  EXPECT_EQ(oc.client_body, answer);
  ASSERT_EQ(oc.events.size(), 6u);
  const auto& ev = oc.events;
  // 0: index a1
  EXPECT_EQ(ev[0].op, Op::kIndex);
  EXPECT_EQ(ev[0].id.get(), "a1");
  EXPECT_EQ(ev[0].source, R"({"n":10,"s":"x"})");
  EXPECT_EQ(ev[0].seq_no.get(), 1);
  // 1: auto-id
  EXPECT_EQ(ev[1].op, Op::kIndex);
  EXPECT_EQ(ev[1].id.get().size(), 20u);
  EXPECT_EQ(ev[1].source, R"({"n":11})");
  // (create seed: 409, nothing)
  // 2: update a1 with get._source
  EXPECT_EQ(ev[2].op, Op::kIndex);
  EXPECT_EQ(ev[2].source, R"({"n":10,"s":"y"})");
  EXPECT_EQ(ev[2].seq_no.get(), 3);
  // 3: update seed without source -> reconcile with the seq_no hint
  EXPECT_EQ(ev[3].op, Op::kReconcile);
  EXPECT_EQ(ev[3].id.get(), "seed");
  EXPECT_EQ(ev[3].seq_no.get(), 4);
  // 4: delete of a missing doc -> delete (tombstone)
  EXPECT_EQ(ev[4].op, Op::kDelete);
  EXPECT_EQ(ev[4].id.get(), "missing");
  EXPECT_EQ(ev[4].seq_no.get(), 5);
  // 5: delete a1
  EXPECT_EQ(ev[5].op, Op::kDelete);
  EXPECT_EQ(ev[5].seq_no.get(), 6);
  // (mapper_parsing 400, document_missing 404, noop: nothing)
  for (const auto& e : ev) EXPECT_EQ(e.index.get(), index());
}

TEST_P(Versions, InjectedBulkEventsAndStrip) {
  BulkRequest req;
  auto parsed = bulk::parse_request(data("bulk_injected_request.ndjson"), {});
  ASSERT_TRUE(parsed.is_ok());
  req.forwarded = *parsed->rewritten;
  req.parsed = std::move(parsed).value();
  auto oc = bulk_outcome(req, 200, data("bulk_injected_response.json"), kCtx);
  EXPECT_EQ(oc.client_body, data("bulk_injected_client.json"));
  ASSERT_EQ(oc.events.size(), 4u);
  EXPECT_EQ(oc.events[0].source, R"({"n":1})");
  EXPECT_EQ(oc.events[1].source, R"({"n":1,"s":"a"})");
  EXPECT_EQ(oc.events[2].source, R"({"n":1,"s":"a","t":"b"})");
  EXPECT_EQ(oc.events[3].op, Op::kDelete);
}

TEST_P(Versions, UnalignedBulkReconcilesAndMarks) {
  BulkRequest req;  // request did not parse
  req.forwarded = "garbage";
  auto oc = bulk_outcome(req, 200, data("bulk_mixed.json"), kCtx);
  ASSERT_EQ(oc.events.size(), 6u);
  for (const auto& e : oc.events) {
    EXPECT_EQ(e.op, Op::kReconcile);
    EXPECT_EQ(e.routing, std::nullopt);
  }
  EXPECT_FALSE(oc.marks.empty());
}

TEST_P(Versions, MetaEvent) {
  MetaRequest m;
  m.method = "PUT";
  m.target = "/" + index() + "/_mapping?master_timeout=30s";
  m.body = R"({"properties":{"k":{"type":"keyword"}}})";
  m.index = IndexName(index());
  auto oc = meta_outcome(m, 200, data("meta_mapping.json"), kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kMeta);
  auto j = nlohmann::json::parse(oc.events[0].meta);
  EXPECT_EQ(j["method"], "PUT");
  EXPECT_EQ(j["path"], m.target);
  EXPECT_EQ(j["body"]["properties"]["k"]["type"], "keyword");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["response"]["acknowledged"], true);
  EXPECT_TRUE(meta_outcome(m, 400, "{}", kCtx).events.empty());
}

INSTANTIATE_TEST_SUITE_P(Es, Versions, ::testing::Values("es7", "es8"));

TEST(CaptureEvents, Es6TypedAnswer) {
  // ES 6.8 answers carry _type; it is ignored.
  std::string answer =
      R"({"_index":"old","_type":"product","_id":"1","_version":1,"result":"created",)"
      R"("_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1})";
  auto oc = doc_outcome(doc(DocOp::kIndex, "1", R"({"a":1})"), 201, answer, kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].index.get(), "old");
  EXPECT_EQ(oc.events[0].seq_no.get(), 0);
}

TEST(CaptureEvents, SourceThatIsNotStrictJsonIsReconcile) {
  std::string answer =
      R"({"_index":"i","_id":"1","result":"created","_seq_no":4,"_primary_term":2})";
  auto oc = doc_outcome(doc(DocOp::kIndex, "1", R"({"a":1 /* ES allows comments */})"), 201, answer,
                        kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kReconcile);
  auto req = doc(DocOp::kIndex, "1", R"({"a":1})");
  req.pipeline = true;
  EXPECT_EQ(doc_outcome(req, 201, answer, kCtx).events[0].op, Op::kReconcile);
  // Big numbers are valid JSON and stay an index event.
  auto big = doc_outcome(doc(DocOp::kIndex, "1", R"({"a":123456789012345678901234567890})"), 201,
                         answer, kCtx);
  EXPECT_EQ(big.events[0].op, Op::kIndex);
}

TEST(CaptureEvents, AcknowledgedButUnreadable) {
  auto oc = doc_outcome(doc(DocOp::kIndex, "7", "{}"), 200, "<html>", kCtx);
  ASSERT_EQ(oc.events.size(), 1u);
  EXPECT_EQ(oc.events[0].op, Op::kReconcile);
  EXPECT_EQ(oc.events[0].index.get(), "alias-or-index");
  auto auto_id = doc_outcome(doc(DocOp::kIndex, std::nullopt, "{}"), 201, "<html>", kCtx);
  EXPECT_TRUE(auto_id.events.empty());
  EXPECT_EQ(auto_id.marks.size(), 1u);
  EXPECT_TRUE(doc_outcome(doc(DocOp::kIndex, "7", "{}"), 0, "", kCtx).events.empty());
}

TEST(CaptureEvents, MetaPayloadShapes) {
  MetaRequest m;
  m.method = "DELETE";
  m.target = "/_template/t%201";
  m.name = "t 1";
  std::string p = meta_payload(m, 200, R"({"acknowledged":true})");
  EXPECT_EQ(p, R"({"method":"DELETE","path":"/_template/t%201","body":null,"status":200,)"
               R"("response":{"acknowledged":true},"name":"t 1"})");
  m.body = "not json";
  auto j = nlohmann::json::parse(meta_payload(m, 200, "oops"));
  EXPECT_EQ(j["body"], "not json");
  EXPECT_EQ(j["response"], "oops");
}

}  // namespace
}  // namespace tandem::proxy::detail
