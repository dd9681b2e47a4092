// Bulk request parsing and rewriting, response parsing and byte-exact
// stripping of the "get" members capture injected.
#include "proxy/bulk.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "capture_testdata.h"

namespace tandem::proxy::bulk {
namespace {

using proxy::testing::testdata;

std::string_view span(const ParsedRequest& p, std::string_view original, const Item& it) {
  std::string_view body = p.rewritten ? std::string_view(*p.rewritten) : original;
  return body.substr(it.source_offset, it.source_length);
}

TEST(BulkRequest, MixedRealRequest) {
  std::string body = testdata("es7_bulk_mixed.ndjson");
  auto p = parse_request(body, {});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  ASSERT_EQ(p->items.size(), 10u);
  const auto& it = p->items;
  EXPECT_EQ(it[0].action, Action::kIndex);
  EXPECT_EQ(it[0].id.value_or(DocId()).get(), "a1");
  EXPECT_EQ(it[0].index.value_or(IndexName()).get(), "capture-td-es7");
  EXPECT_EQ(span(*p, body, it[0]), R"({"n":10,"s":"x"})");
  EXPECT_FALSE(it[1].id);  // auto-id
  EXPECT_EQ(it[2].action, Action::kCreate);
  EXPECT_EQ(it[3].update_source, UpdateSource::kClientAsked);
  EXPECT_EQ(it[4].update_source, UpdateSource::kInjected);
  EXPECT_EQ(it[5].action, Action::kDelete);
  EXPECT_EQ(it[5].source_length, 0u);
  EXPECT_EQ(it[7].action, Action::kIndex);
  EXPECT_EQ(span(*p, body, it[7]), R"({"n":"not-a-number"})");
  EXPECT_EQ(it[8].update_source, UpdateSource::kInjected);
  EXPECT_EQ(it[9].update_source, UpdateSource::kClientAsked);
  EXPECT_EQ(p->injected, 2u);
  ASSERT_TRUE(p->rewritten);
  // Spans moved with the insertions.
  EXPECT_EQ(span(*p, body, it[9]), R"({"doc":{"t":"z"}})");
  EXPECT_EQ(span(*p, body, it[7]), R"({"n":"not-a-number"})");
}

TEST(BulkRequest, RewriteIsByteExact) {
  for (std::string v : {"es7", "es8"}) {
    std::string req = testdata(v + "_bulk_injected_request.ndjson");
    std::string fwd = testdata(v + "_bulk_injected_forwarded.ndjson");
    auto p = parse_request(req, {});
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
    ASSERT_TRUE(p->rewritten);
    EXPECT_EQ(*p->rewritten, fwd);
    EXPECT_EQ(p->injected, 3u);
  }
}

TEST(BulkRequest, NothingToInjectKeepsBodyUnchanged) {
  std::string body =
      "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"x\":1}\n"
      "{\"delete\":{\"_index\":\"a\",\"_id\":\"2\"}}\n";
  auto p = parse_request(body, {});
  ASSERT_TRUE(p.is_ok());
  EXPECT_FALSE(p->rewritten);
  EXPECT_EQ(p->items.size(), 2u);
}

TEST(BulkRequest, DefaultsRoutingBlankLinesCrlf) {
  std::string body =
      "\n{\"index\":{\"_id\":\"1\",\"routing\":5}}\r\n{\"x\":1}\r\n"
      "   \n{\"create\":{\"_index\":\"b\",\"_id\":2,\"_routing\":\"r\"}}\n {\"y\":2} \n"
      "{\"delete\":{\"_id\":\"3\"}}\n";
  Defaults d;
  d.index = IndexName("def");
  d.routing = "url-routing";
  auto p = parse_request(body, d);
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  ASSERT_EQ(p->items.size(), 3u);
  EXPECT_EQ(p->items[0].index.value_or(IndexName()).get(), "def");
  EXPECT_EQ(p->items[0].routing, "5");
  EXPECT_EQ(span(*p, body, p->items[0]), "{\"x\":1}");  // no '\r'
  EXPECT_EQ(p->items[1].index.value_or(IndexName()).get(), "b");
  EXPECT_EQ(p->items[1].id.value_or(DocId()).get(), "2");
  EXPECT_EQ(p->items[1].routing, "r");
  EXPECT_EQ(span(*p, body, p->items[1]), " {\"y\":2} ");
  EXPECT_EQ(p->items[2].routing, "url-routing");
}

TEST(BulkRequest, SourcePreferences) {
  auto parse_one = [](std::string body, Defaults d = {}) {
    auto p = parse_request(body, d);
    EXPECT_TRUE(p.is_ok()) << p.status().to_string();
    return p.is_ok() ? p->items.at(0).update_source : UpdateSource::kNotUpdate;
  };
  std::string plain = "{\"update\":{\"_id\":\"1\",\"_index\":\"i\"}}\n{\"doc\":{}}\n";
  EXPECT_EQ(parse_one(plain), UpdateSource::kInjected);
  Defaults full;
  full.source = "true";
  EXPECT_EQ(parse_one(plain, full), UpdateSource::kClientAsked);
  Defaults some;
  some.source = "a,b";
  EXPECT_EQ(parse_one(plain, some), UpdateSource::kUnavailable);
  Defaults filtered;
  filtered.source_filtered = true;
  EXPECT_EQ(parse_one(plain, filtered), UpdateSource::kUnavailable);
  EXPECT_EQ(parse_one("{\"update\":{\"_id\":\"1\",\"_index\":\"i\",\"_source\":false}}\n{}\n"),
            UpdateSource::kUnavailable);
  EXPECT_EQ(parse_one("{\"update\":{\"_id\":\"1\",\"_index\":\"i\",\"_source\":[\"a\"]}}\n{}\n"),
            UpdateSource::kUnavailable);
  // The source line's _source wins over the action line's.
  EXPECT_EQ(parse_one("{\"update\":{\"_id\":\"1\",\"_index\":\"i\",\"_source\":true}}\n"
                      "{\"doc\":{},\"_source\":false}\n"),
            UpdateSource::kUnavailable);
  EXPECT_EQ(parse_one("{\"update\":{\"_id\":\"1\",\"_index\":\"i\"}}\n"
                      "{\"doc\":{},\"_source\":true}\n"),
            UpdateSource::kClientAsked);
}

TEST(BulkRequest, InjectIntoEmptyAndSpacedActionLines) {
  std::string body = "{ \"update\" : {} }\n{\"doc\":{}}\n{\"update\" :\t{ \"_id\":\"x\" }}\n{}\n";
  auto p = parse_request(body, {});
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  ASSERT_TRUE(p->rewritten);
  EXPECT_EQ(*p->rewritten,
            "{ \"update\" : {\"_source\":true} }\n{\"doc\":{}}\n"
            "{\"update\" :\t{\"_source\":true, \"_id\":\"x\" }}\n{}\n");
  EXPECT_EQ(span(*p, body, p->items[1]), "{}");
}

TEST(BulkRequest, PipelinesMarkItems) {
  Defaults d;
  d.pipeline = "p1";
  auto p = parse_request("{\"index\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{}\n", d);
  ASSERT_TRUE(p.is_ok());
  EXPECT_TRUE(p->items[0].pipeline);
  auto q = parse_request(
      "{\"index\":{\"_index\":\"i\",\"_id\":\"1\",\"pipeline\":\"x\"}}\n{}\n"
      "{\"index\":{\"_index\":\"i\",\"_id\":\"2\",\"pipeline\":\"_none\"}}\n{}\n",
      {});
  ASSERT_TRUE(q.is_ok());
  EXPECT_TRUE(q->items[0].pipeline);
  EXPECT_FALSE(q->items[1].pipeline);
}

TEST(BulkRequest, MalformedBodiesAreErrors) {
  const char* bad[] = {
      "{\"index\":{\"_id\":\"1\"}}\n{}",        // no trailing newline
      "{\"index\":{\"_id\":\"1\"}\n{}\n",       // invalid JSON
      "{\"upsert\":{\"_id\":\"1\"}}\n{}\n",     // unknown action
      "{\"index\":{\"_id\":\"1\"}}\n",          // missing source line
      "{\"index\":{},\"delete\":{}}\n{}\n",     // two actions
      "{}\n",                                   // empty action
      "[1]\n",                                  // not an object
      "{\"index\":{\"_id\":{\"a\":1}}}\n{}\n",  // id not a scalar
  };
  for (const char* b : bad) {
    auto p = parse_request(b, {});
    EXPECT_FALSE(p.is_ok()) << b;
    if (!p.is_ok()) {
      EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    }
  }
  EXPECT_TRUE(parse_request("", {}).is_ok());
}

TEST(BulkResponse, ParsesRealMixedResponses) {
  for (std::string v : {"es7", "es8"}) {
    SCOPED_TRACE(v);
    auto r = es::parse_bulk_response(testdata(v + "_bulk_mixed.json"));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_EQ(r->items.size(), 10u);
    const auto& it = r->items;
    EXPECT_TRUE(it[0].ok());
    EXPECT_EQ(it[0].seq_no.get(), 1);
    EXPECT_EQ(it[0].primary_term.get(), 1);
    EXPECT_EQ(it[1].id.get().size(), 20u);  // auto-id
    EXPECT_EQ(it[2].status, 409);
    EXPECT_TRUE(it[2].has_error);
    EXPECT_EQ(it[3].get_source, R"({"n":10,"s":"y"})");
    EXPECT_FALSE(it[4].has_get);
    EXPECT_EQ(it[5].result, "not_found");
    EXPECT_EQ(it[5].status, 404);
    EXPECT_EQ(it[7].status, 400);
    EXPECT_EQ(it[9].result, "noop");
  }
}

TEST(BulkResponse, StripIsByteExact) {
  for (std::string v : {"es7", "es8"}) {
    for (std::string suffix : {"", "_pretty"}) {
      SCOPED_TRACE(v + suffix);
      std::string resp = testdata(v + "_bulk_injected_response" + suffix + ".json");
      std::string want = testdata(v + "_bulk_injected_client" + suffix + ".json");
      auto r = es::parse_bulk_response(resp);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      ASSERT_EQ(r->items.size(), 6u);
      // Items 1, 3, 4 were injected; item 2 asked for its source itself.
      std::vector<bool> strip = {false, true, false, true, true, false};
      EXPECT_EQ(strip_get_members(resp, *r, strip), want);
    }
  }
}

TEST(BulkResponse, StripFirstAndOnlyMember) {
  std::string body =
      R"({"items":[{"update":{"get":{"_source":{"a":1},"found":true}, "status":200}},)"
      R"({"update":{ "get" : {"found":true,"_source":{}} }}]})";
  auto r = es::parse_bulk_response(body);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  std::string out = strip_get_members(body, *r, {true, true});
  EXPECT_EQ(out, R"({"items":[{"update":{"status":200}},{"update":{  }}]})");
  EXPECT_TRUE(nlohmann::json::accept(out));
}

TEST(BulkResponse, NotABulkResponse) {
  EXPECT_EQ(es::parse_bulk_response(testdata("es7_doc_create_conflict.json")).status().code(),
            Code::kProtocol);
  EXPECT_EQ(es::parse_bulk_response("not json").status().code(), Code::kProtocol);
  EXPECT_EQ(es::parse_bulk_response(R"({"items":[{"frob":{}}]})").status().code(), Code::kProtocol);
}

}  // namespace
}  // namespace tandem::proxy::bulk
