#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/scratch.h"
#include "es/es.h"

namespace tandem::es {
namespace {

IndexName I(std::string s) {
  return IndexName(std::move(s));
}
DocId D(std::string s) {
  return DocId(std::string(std::move(s)));
}

TEST(BulkBuilder, GoldenBytes) {
  BulkBuilder b;
  b.index(I("products"), D("1"), R"({"a":1})");
  b.index(I("products"), D("2"), R"({"b":"x"})", std::string("user7"), VersionSpec{42});
  b.create(I("products"), D("3"), R"({})");
  b.remove(I("products"), D("4"));
  b.remove(I("products"), D("5"), std::string("r"), VersionSpec{(uint64_t{1} << 48) | 8});
  EXPECT_EQ(b.size(), 5u);
  EXPECT_FALSE(b.all_versioned());
  EXPECT_EQ(
      b.body(),
      "{\"index\":{\"_index\":\"products\",\"_id\":\"1\"}}\n"
      "{\"a\":1}\n"
      "{\"index\":{\"_index\":\"products\",\"_id\":\"2\",\"routing\":\"user7\",\"version\":42,"
      "\"version_type\":\"external\"}}\n"
      "{\"b\":\"x\"}\n"
      "{\"create\":{\"_index\":\"products\",\"_id\":\"3\"}}\n"
      "{}\n"
      "{\"delete\":{\"_index\":\"products\",\"_id\":\"4\"}}\n"
      "{\"delete\":{\"_index\":\"products\",\"_id\":\"5\",\"routing\":\"r\",\"version\":"
      "281474976710664,\"version_type\":\"external\"}}\n");
  EXPECT_EQ(b.bytes(), b.body().size());
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.body(), "");
  EXPECT_FALSE(b.all_versioned());
}

TEST(BulkBuilder, WithTypeFor6x) {
  BulkBuilder b(/*with_type=*/true);
  b.index(I("i"), D("1"), "{}", std::nullopt, VersionSpec{1});
  b.remove(I("i"), D("2"), std::nullopt, VersionSpec{2});
  EXPECT_TRUE(b.all_versioned());
  EXPECT_EQ(b.body(),
            "{\"index\":{\"_index\":\"i\",\"_type\":\"_doc\",\"_id\":\"1\",\"version\":1,"
            "\"version_type\":\"external\"}}\n{}\n"
            "{\"delete\":{\"_index\":\"i\",\"_type\":\"_doc\",\"_id\":\"2\",\"version\":2,"
            "\"version_type\":\"external\"}}\n");
}

TEST(BulkBuilder, ExternalGteForSameVersionRepair) {
  BulkBuilder b;
  b.index(I("i"), D("1"), "{}", std::nullopt, VersionSpec{7, true});
  EXPECT_TRUE(b.all_versioned());
  EXPECT_EQ(b.body(),
            "{\"index\":{\"_index\":\"i\",\"_id\":\"1\",\"version\":7,"
            "\"version_type\":\"external_gte\"}}\n{}\n");
}

TEST(BulkBuilder, EscapesIdsAndEveryLineIsJson) {
  const std::string nasty[] = {
      "a\"b",         "back\\slash", "new\nline",      "tab\tcr\r", std::string("nul\0x", 5),
      "\x01\x1f\x7f", "ünïcødé ✓ 🎉", "{\"index\":{}}", "</script>"};
  BulkBuilder b;
  for (const auto& id : nasty) b.index(I("idx"), D(id), R"({"k":"v"})", id);
  // Each action line must parse and round-trip the id exactly.
  size_t pos = 0;
  for (const auto& id : nasty) {
    size_t nl = b.body().find('\n', pos);
    ASSERT_NE(nl, std::string::npos);
    auto j = nlohmann::json::parse(b.body().substr(pos, nl - pos));
    EXPECT_EQ(j["index"]["_id"].get<std::string>(), id);
    EXPECT_EQ(j["index"]["routing"].get<std::string>(), id);
    pos = b.body().find('\n', nl + 1) + 1;  // skip source line
  }
  EXPECT_EQ(pos, b.body().size());
}

// ES 7.17-shaped answer: created, not_found delete, conflict, mapping error.
constexpr const char* kBulk7 =
    R"({"took":30,"errors":true,"items":[)"
    R"({"index":{"_index":"test","_type":"_doc","_id":"1","_version":10,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}},)"
    R"({"delete":{"_index":"test","_type":"_doc","_id":"2","_version":1,"result":"not_found","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":1,"_primary_term":1,"status":404}},)"
    R"({"index":{"_index":"test","_type":"_doc","_id":"3","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[3]: version conflict, current version [10] is higher or equal to the one provided [5]","index_uuid":"aAsFqTI0Tc2W0LCWgPNrOA","shard":"0","index":"test"}}},)"
    R"({"index":{"_index":"test","_type":"_doc","_id":"4","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n] of type [long] in document with id '4'. Preview of field's value: 'abc'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}}},)"
    R"({"create":{"_index":"test","_type":"_doc","_id":"q\"uote\\d","_version":1,"result":"created","forced_refresh":true,"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":2,"_primary_term":1,"status":201}})"
    R"(]})";

TEST(ParseBulk, Es7Mixed) {
  auto r = parse_bulk_response(kBulk7);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(r->errors);
  EXPECT_EQ(r->took_ms, 30);
  ASSERT_EQ(r->items.size(), 5u);
  const auto& a = r->items[0];
  EXPECT_EQ(a.op, "index");
  EXPECT_EQ(a.status, 201);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.index.get(), "test");
  EXPECT_EQ(a.id.get(), "1");
  EXPECT_EQ(a.version, 10);
  EXPECT_EQ(a.seq_no.get(), 0);
  EXPECT_EQ(a.primary_term.get(), 1);
  EXPECT_EQ(a.result, "created");
  EXPECT_TRUE(a.error_type.empty());

  const auto& d = r->items[1];
  EXPECT_EQ(d.op, "delete");
  EXPECT_EQ(d.status, 404);
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.result, "not_found");
  EXPECT_EQ(d.seq_no.get(), 1);

  const auto& c = r->items[2];
  EXPECT_TRUE(c.version_conflict());
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.error_type, "version_conflict_engine_exception");
  EXPECT_NE(c.error_reason.find("version conflict"), std::string::npos);
  EXPECT_EQ(c.version, -1);
  EXPECT_EQ(c.seq_no.get(), -1);

  const auto& m = r->items[3];
  EXPECT_EQ(m.status, 400);
  EXPECT_EQ(m.error_type, "mapper_parsing_exception");
  EXPECT_EQ(m.error_reason,
            "failed to parse field [n] of type [long] in document with id '4'. Preview of "
            "field's value: 'abc'");

  EXPECT_EQ(r->items[4].op, "create");
  EXPECT_EQ(r->items[4].id.get(), "q\"uote\\d");
}

// ES 8.x-shaped: no _type, fields in a different order, 429 item.
constexpr const char* kBulk8 =
    R"({"errors":true,"took":5,"ingest_took":0,"items":[)"
    R"({"index":{"_index":"p","_id":"a","_version":3,"result":"updated","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":7,"_primary_term":2,"status":200}},)"
    R"({"delete":{"_index":"p","_id":"b","_version":2,"result":"deleted","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":8,"_primary_term":2,"status":200}},)"
    R"({"index":{"_index":"p","_id":"c","status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"}}})"
    R"(]})";

TEST(ParseBulk, Es8) {
  auto r = parse_bulk_response(kBulk8);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->took_ms, 5);
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].result, "updated");
  EXPECT_EQ(r->items[0].seq_no.get(), 7);
  EXPECT_EQ(r->items[0].primary_term.get(), 2);
  EXPECT_EQ(r->items[1].op, "delete");
  EXPECT_TRUE(r->items[1].ok());
  EXPECT_EQ(r->items[2].status, 429);
  EXPECT_EQ(r->items[2].error_type, "es_rejected_execution_exception");
}

TEST(ParseBulk, NoErrorsEmptyItems) {
  auto r = parse_bulk_response(R"({"took":0,"errors":false,"items":[]})");
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r->errors);
  EXPECT_TRUE(r->items.empty());
}

TEST(ParseBulk, Malformed) {
  for (const char* body :
       {"", "not json", "[]", R"({"took":1})",
        R"({"took":1,"errors":false,"items":[{"index":{"status":"x"}}]})",
        R"({"took":1,"errors":false,"items":[{}]})",
        R"({"took":1,"errors":false,"items":[{"index":{"_id":"1","status":201})",
        R"({"error":{"type":"illegal_argument_exception","reason":"bad"},"status":400})"}) {
    auto r = parse_bulk_response(body);
    EXPECT_FALSE(r.is_ok()) << body;
    if (!r.is_ok()) {
      EXPECT_EQ(r.status().code(), Code::kProtocol) << body;
    }
  }
}

TEST(ParseBulk, TenThousandItems) {
  std::string body = R"({"took":120,"errors":false,"items":[)";
  for (int i = 0; i < 10000; ++i) {
    if (i) body += ',';
    body +=
        R"({"index":{"_index":"big","_id":"doc-)" + std::to_string(i) +
        R"(","_version":281474976710657,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":)" +
        std::to_string(i) + R"(,"_primary_term":1,"status":201}})";
  }
  body += "]}";
  auto r = parse_bulk_response(body);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->items.size(), 10000u);
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(r->items[i].id.get(), "doc-" + std::to_string(i));
    ASSERT_EQ(r->items[i].seq_no.get(), i);
    ASSERT_EQ(r->items[i].version, 281474976710657);
  }
}

// What the proxy reads of an update that asked for _source: get._source as
// raw bytes, and the "get" member's byte range with one comma, so cutting
// it out leaves a well-formed object.
TEST(ParseBulk, GetMember) {
  std::string body =
      R"({"took":1,"errors":false,"items":[)"
      R"({"update":{"_index":"p","_id":"1","result":"updated","get":{"_seq_no":4,"found":true,"_source":{ "a" : [1, {"b":"c"}] }},"_seq_no":4,"_primary_term":1,"status":200}},)"
      R"({"update":{"get" : {"found":false},"_index":"p","_id":"2","status":200}},)"
      R"({"update":{"_index":"p","_id":"3","status":200,"get":{"found":true,"_source":{}}}},)"
      R"({"update":{"_index":"p","_id":"4","status":200}})"
      R"(]})";
  auto r = parse_bulk_response(body);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->items.size(), 4u);
  const auto& a = r->items[0];
  EXPECT_TRUE(a.has_get);
  EXPECT_EQ(a.get_source, R"({ "a" : [1, {"b":"c"}] })");
  EXPECT_EQ(a.seq_no.get(), 4);
  EXPECT_EQ(body.substr(a.get_begin, 1), ",");  // the comma before it goes with it
  EXPECT_FALSE(r->items[1].get_source);         // found: false
  EXPECT_TRUE(r->items[1].has_get);
  EXPECT_EQ(r->items[2].get_source, "{}");
  EXPECT_FALSE(r->items[3].has_get);
  for (size_t i = 0; i < 3; ++i) {
    std::string cut = body;
    cut.erase(r->items[i].get_begin, r->items[i].get_end - r->items[i].get_begin);
    EXPECT_TRUE(nlohmann::json::accept(cut)) << cut;
    auto again = parse_bulk_response(cut);
    ASSERT_TRUE(again.is_ok());
    EXPECT_FALSE(again->items[i].has_get);
    EXPECT_EQ(again->items[i].id, r->items[i].id);
  }
}

// The parsers and the padded copy are kept per thread up to
// kScratchKeepBytes and released after a larger answer: answers on either
// side of the bound, one after the other, each parse in full (the get
// members are read by the second parser, at offsets in the padded copy).
TEST(ParseBulk, AnswersAboveAndBelowTheKeptSize) {
  auto answer = [](size_t items) {
    std::string body = R"({"took":1,"errors":false,"items":[)";
    for (size_t i = 0; i < items; ++i) {
      if (i) body += ',';
      body += R"({"update":{"_index":"p","_id":")" + std::to_string(i) +
              R"(","status":200,"get":{"found":true,"_source":{"n":)" + std::to_string(i) + "}}}}";
    }
    return body + "]}";
  };
  const std::string small = answer(10);
  std::string grown = answer(20);
  for (size_t n = 20; grown.size() <= 2 * kScratchKeepBytes; n *= 2) grown = answer(n);
  const std::string large = grown;
  for (const std::string* body : {&small, &large, &small, &large, &large, &small}) {
    auto r = parse_bulk_response(*body);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const auto& last = r->items.back();
    EXPECT_EQ(last.get_source, R"({"n":)" + last.id.get() + "}");
    EXPECT_EQ(body->substr(last.get_begin, 7), R"(,"get":)");
  }
}

TEST(ParseBulk, ItemsAreExactlyOneOfTheFourActions) {
  for (const char* body :
       {R"({"items":[{"frob":{"status":200}}]})",
        R"({"items":[{"index":{"status":200},"delete":{"status":200}}]})",
        R"({"items":[{"index":{"get":{"_source":[1]}}}]})",
        R"({"items":[{"update":{"get":{"found":false},"get":{"found":false}}}]})"}) {
    auto r = parse_bulk_response(body);
    ASSERT_FALSE(r.is_ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kProtocol) << body;
  }
  for (const char* op : {"index", "create", "update", "delete"}) {
    auto r = parse_bulk_response(std::string(R"({"items":[{")") + op + R"(":{"status":200}}]})");
    ASSERT_TRUE(r.is_ok()) << op;
    EXPECT_EQ(r->items[0].op, op);
  }
}

TEST(ParseWriteResponse, SingleDocumentAnswers) {
  auto ok = parse_write_response(
      R"({"_index":"p","_id":"7","_version":2,"result":"updated","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":9,"_primary_term":3})");
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(ok->index.get(), "p");
  EXPECT_EQ(ok->id.get(), "7");
  EXPECT_EQ(ok->seq_no.get(), 9);
  EXPECT_EQ(ok->primary_term.get(), 3);
  EXPECT_EQ(ok->status, 0);
  EXPECT_TRUE(ok->op.empty());
  auto conflict = parse_write_response(
      R"({"error":{"root_cause":[],"type":"version_conflict_engine_exception","reason":"[7]: version conflict"},"status":409})");
  ASSERT_TRUE(conflict.is_ok());
  EXPECT_TRUE(conflict->has_error);
  EXPECT_EQ(conflict->status, 409);
  EXPECT_EQ(conflict->error_type, "version_conflict_engine_exception");
  for (const char* bad : {"", "[]", "not json", R"({"_seq_no":"x"})"}) {
    auto r = parse_write_response(bad);
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kProtocol) << bad;
  }
}

}  // namespace
}  // namespace tandem::es
