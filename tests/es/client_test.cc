// Client over a scripted fake transport: error mapping, connect messages,
// get/index/delete, bulk idempotency, PIT and scroll scans. No network.
#include <gtest/gtest.h>

#include <deque>

#include "es/es.h"
#include "es/internal.h"

namespace tandem::es {
namespace {

struct Reply {
  std::string method;  // expected method
  std::string target;  // expected target prefix
  std::optional<http::Response> resp;
  Status err;
};

class FakeHttp final : public http::Client {
 public:
  explicit FakeHttp(std::string scheme = "http") {
    opts_.url.scheme = std::move(scheme);
    opts_.url.host = "127.0.0.1";
    opts_.url.port = 19200;
  }
  void expect(std::string method, std::string target, int status, std::string body) {
    http::Response r;
    r.status = status;
    r.body = std::move(body);
    replies_.push_back({std::move(method), std::move(target), std::move(r), Status()});
  }
  void fail(Status s) { replies_.push_back({"", "", std::nullopt, std::move(s)}); }
  Result<http::Response> send(const http::Request& req) override {
    sent.push_back(req);
    if (replies_.empty()) return Status(Code::kInternal, "unexpected request " + req.target);
    Reply r = std::move(replies_.front());
    replies_.pop_front();
    if (!r.resp) return r.err;
    EXPECT_EQ(req.method, r.method) << req.target;
    EXPECT_EQ(req.target.rfind(r.target, 0), 0u) << req.target << " vs " << r.target;
    return *r.resp;
  }
  const http::ClientOptions& options() const override { return opts_; }
  std::vector<http::Request> sent;
  http::ClientOptions opts_;

 private:
  std::deque<Reply> replies_;
};

ClusterInfo info_for(Version v) {
  ClusterInfo i;
  i.version = v;
  i.cluster_name = "c";
  i.caps = Capabilities::derive(Flavor::kElasticsearch, v);
  return i;
}

struct Fixture {
  FakeHttp* fake;
  std::unique_ptr<Client> client;
  explicit Fixture(Version v = {8, 19, 7}, std::string label = "green") {
    auto f = std::make_unique<FakeHttp>();
    fake = f.get();
    client = std::make_unique<Client>(std::move(label), std::move(f), info_for(v));
  }
};

constexpr const char* kNoIndex =
    R"({"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [products]","index":"products"}],"type":"index_not_found_exception","reason":"no such index [products]","resource.type":"index_or_alias","resource.id":"products","index_uuid":"_na_","index":"products"},"status":404})";

TEST(Client, CallMapsErrors) {
  Fixture fx;
  fx.fake->expect("GET", "/products/_mapping", 404, kNoIndex);
  auto r = fx.client->call("GET", "/products/_mapping");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_EQ(r.status().http_status(), 404);
  EXPECT_EQ(r.status().message(),
            "cluster 'green' index 'products': index_not_found_exception: no such index "
            "[products] (404)");

  fx.fake->expect(
      "PUT", "/x/_doc/1", 409,
      R"({"error":{"type":"version_conflict_engine_exception","reason":"[1]: version conflict"},"status":409})");
  EXPECT_EQ(fx.client->call("PUT", "/x/_doc/1", nlohmann::json::object()).status().code(),
            Code::kConflict);
  fx.fake->expect(
      "GET", "/", 401,
      R"({"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401})");
  auto u = fx.client->call("GET", "/");
  EXPECT_EQ(u.status().code(), Code::kUnauthorized);
  EXPECT_NE(u.status().message().find("TANDEM_GREEN_USERNAME"), std::string::npos);
  fx.fake->expect("GET", "/", 429, R"({"error":"too many"})");
  EXPECT_EQ(fx.client->call("GET", "/").status().code(), Code::kUnavailable);
  fx.fake->expect("GET", "/", 503, "<html>busy</html>");
  auto b = fx.client->call("GET", "/");
  EXPECT_EQ(b.status().code(), Code::kUnavailable);
  EXPECT_EQ(b.status().http_status(), 503);
  fx.fake->expect("GET", "/", 200, "not json");
  EXPECT_EQ(fx.client->call("GET", "/").status().code(), Code::kProtocol);
  fx.fake->fail(Status(Code::kUnavailable, "GET http://127.0.0.1:19200/: connection reset"));
  auto t = fx.client->call("GET", "/");
  EXPECT_EQ(t.status().code(), Code::kUnavailable);
  EXPECT_EQ(t.status().message().rfind("cluster 'green': ", 0), 0u);
}

TEST(Client, GetKeepsSourceBytesAndFoundFalse) {
  Fixture fx;
  const std::string src =
      "{\"t\" : \"x\\\"y\",  \"n\":1.50, \"u\":\"\\u00e9\", \"a\":[1, {\"b\":null}]}";
  fx.fake->expect(
      "GET", "/i/_doc/a%2Fb%20c?routing=r%26", 200,
      R"({"_index":"i","_id":"a/b c","_version":3,"_seq_no":17,"_primary_term":2,"_routing":"r&","found":true,"_source":)" +
          src + "}");
  auto d = fx.client->get(IndexName("i"), DocId("a/b c"), std::string("r&"));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_TRUE(d->found);
  EXPECT_EQ(d->source, src);
  EXPECT_EQ(d->seq_no.get(), 17);
  EXPECT_EQ(d->primary_term.get(), 2);
  EXPECT_EQ(d->version, 3);
  EXPECT_EQ(d->routing, "r&");

  fx.fake->expect("GET", "/i/_doc/missing", 404, R"({"_index":"i","_id":"missing","found":false})");
  auto m = fx.client->get(IndexName("i"), DocId("missing"));
  ASSERT_TRUE(m.is_ok());
  EXPECT_FALSE(m->found);

  fx.fake->expect("GET", "/products/_doc/1", 404, kNoIndex);
  auto e = fx.client->get(IndexName("products"), DocId("1"));
  ASSERT_FALSE(e.is_ok());
  EXPECT_EQ(e.status().code(), Code::kNotFound);
  EXPECT_NE(e.status().message().find("index 'products'"), std::string::npos);
}

TEST(Client, IndexDocConflictNamesIndexAndId) {
  Fixture fx;
  fx.fake->expect(
      "PUT", "/i/_doc/7?version=10&version_type=external", 201,
      R"({"_index":"i","_id":"7","_version":10,"result":"created","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1})");
  auto w = fx.client->index_doc(IndexName("i"), DocId("7"), "{}", VersionSpec{10});
  ASSERT_TRUE(w.is_ok());
  EXPECT_EQ(w->status, 201);
  EXPECT_EQ(w->version, 10);
  EXPECT_EQ(w->result, "created");
  fx.fake->expect(
      "PUT", "/i/_doc/7?version=5&version_type=external", 409,
      R"({"error":{"root_cause":[],"type":"version_conflict_engine_exception","reason":"[7]: version conflict, current version [10] is higher or equal to the one provided [5]","index_uuid":"u","shard":"0","index":"i"},"status":409})");
  auto c = fx.client->index_doc(IndexName("i"), DocId("7"), "{}", VersionSpec{5});
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kConflict);
  EXPECT_EQ(c.status().http_status(), 409);
  EXPECT_NE(c.status().message().find("index 'i' id '7'"), std::string::npos);

  fx.fake->expect(
      "DELETE", "/i/_doc/8", 404,
      R"({"_index":"i","_id":"8","_version":1,"result":"not_found","_shards":{"total":2,"successful":1,"failed":0},"_seq_no":3,"_primary_term":1})");
  auto d = fx.client->delete_doc(IndexName("i"), DocId("8"));
  ASSERT_TRUE(d.is_ok());
  EXPECT_EQ(d->status, 404);
  EXPECT_EQ(d->result, "not_found");
}

TEST(Client, BulkIdempotentOnlyWhenAllVersioned) {
  Fixture fx;
  const char* ok =
      R"({"took":1,"errors":false,"items":[{"index":{"_index":"i","_id":"1","status":201,"result":"created","_seq_no":0,"_primary_term":1,"_version":5}}]})";
  BulkBuilder v;
  v.index(IndexName("i"), DocId("1"), "{}", std::nullopt, VersionSpec{5});
  fx.fake->expect("POST", "/_bulk?refresh=wait_for", 200, ok);
  auto r = fx.client->bulk(v, "wait_for");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(fx.fake->sent.back().idempotent);
  EXPECT_EQ(fx.fake->sent.back().content_type, "application/x-ndjson");
  EXPECT_EQ(fx.fake->sent.back().body, v.body());

  BulkBuilder u;
  u.index(IndexName("i"), DocId("1"), "{}");
  fx.fake->expect("POST", "/_bulk", 200, ok);
  ASSERT_TRUE(fx.client->bulk(u).is_ok());
  EXPECT_FALSE(fx.fake->sent.back().idempotent);
  EXPECT_EQ(fx.fake->sent.back().target, "/_bulk");

  size_t before = fx.fake->sent.size();
  ASSERT_TRUE(fx.client->bulk(BulkBuilder()).is_ok());  // empty: no request
  EXPECT_EQ(fx.fake->sent.size(), before);
}

TEST(Client, IndicesSkipsDotIndicesAndParsesStrings) {
  Fixture fx;
  fx.fake->expect(
      "GET", "/_cat/indices/*?format=json&bytes=b", 200,
      R"([{"health":"green","status":"open","index":".kibana_1","docs.count":"3","docs.deleted":"0","store.size":"100"},)"
      R"({"health":"yellow","status":"open","index":"products","docs.count":"9000","docs.deleted":"12","store.size":"123456"},)"
      R"({"health":"red","status":"close","index":"closed1","docs.count":null,"docs.deleted":null,"store.size":null}])");
  auto r = fx.client->indices();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].index.get(), "products");
  EXPECT_EQ((*r)[0].docs_count, 9000u);
  EXPECT_EQ((*r)[0].docs_deleted, 12u);
  EXPECT_EQ((*r)[0].store_size_bytes, 123456u);
  EXPECT_EQ((*r)[1].status, "close");
  EXPECT_EQ((*r)[1].docs_count, 0u);
  EXPECT_NE(fx.fake->sent.back().target.find("expand_wildcards=open,closed"), std::string::npos);
}

TEST(Client, TemplatesListToObjectAndUnsupported) {
  Fixture fx;
  fx.fake->expect(
      "GET", "/_index_template", 200,
      R"({"index_templates":[{"name":"t1","index_template":{"index_patterns":["a*"],"priority":5}}]})");
  auto t = fx.client->get_index_templates();
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ((*t)["t1"]["priority"], 5);
  fx.fake->expect(
      "GET", "/_component_template", 404,
      R"({"error":{"type":"resource_not_found_exception","reason":"missing"},"status":404})");
  auto c = fx.client->get_component_templates();
  ASSERT_TRUE(c.is_ok());
  EXPECT_TRUE(c->empty());

  Fixture old({7, 4, 0});
  auto none = old.client->get_index_templates();
  ASSERT_TRUE(none.is_ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(old.fake->sent.empty());
}

// ---- connect ----

std::unique_ptr<Client> expect_connect_ok(std::unique_ptr<FakeHttp> f) {
  auto r = connect("blue", std::move(f));
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

TEST(Connect, Ok) {
  auto f = std::make_unique<FakeHttp>();
  f->expect(
      "GET", "/", 200,
      R"({"name":"n","cluster_name":"blue-cluster","cluster_uuid":"u","version":{"number":"7.17.29"},"tagline":"You Know, for Search"})");
  auto c = expect_connect_ok(std::move(f));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->label(), "blue");
  EXPECT_EQ(c->info().version, (Version{7, 17, 29}));
  EXPECT_EQ(c->info().cluster_name, "blue-cluster");
}

TEST(Connect, Unreachable) {
  auto f = std::make_unique<FakeHttp>();
  f->opts_.url.port = 1;
  f->fail(Status(Code::kUnavailable, "GET http://127.0.0.1:1/: connection refused"));
  auto r = connect("blue", std::move(f));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  const auto& m = r.status().message();
  EXPECT_EQ(m.rfind("cannot reach cluster 'blue' at http://127.0.0.1:1: ", 0), 0u) << m;
  EXPECT_NE(m.find("connection refused"), std::string::npos);
  EXPECT_NE(m.find("is it running? check the URL/port"), std::string::npos);
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(Connect, TlsMessages) {
  auto f = std::make_unique<FakeHttp>("https");
  f->fail(Status(Code::kTls, "GET https://127.0.0.1:19200/: certificate verify failed"));
  auto r = connect("green", std::move(f));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTls);
  EXPECT_NE(r.status().message().find("TANDEM_GREEN_CA_FILE"), std::string::npos);

  auto g = std::make_unique<FakeHttp>("https");
  g->fail(Status(Code::kTls, "GET https://127.0.0.1:19200/: wrong version number"));
  auto s = connect("green", std::move(g));
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("use http://"), std::string::npos) << s.status().message();
}

TEST(Connect, Unauthorized) {
  auto f = std::make_unique<FakeHttp>();
  f->opts_.credentials.kind = http::Credentials::Kind::kBasic;
  f->opts_.credentials.username = "elastic";
  f->opts_.credentials.secret = http::Secret("hunter2-secret");
  f->expect(
      "GET", "/", 401,
      R"({"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/]"}],"type":"security_exception","reason":"unable to authenticate user [elastic] for REST request [/]"},"status":401})");
  auto r = connect("blue", std::move(f));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnauthorized);
  EXPECT_EQ(r.status().http_status(), 401);
  EXPECT_EQ(r.status().message(),
            "cluster 'blue' rejected the credentials (401): set TANDEM_BLUE_USERNAME/"
            "TANDEM_BLUE_PASSWORD or TANDEM_BLUE_API_KEY");
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
}

TEST(Connect, NotElasticsearch) {
  auto f = std::make_unique<FakeHttp>();
  f->expect("GET", "/", 200, "<!DOCTYPE html>\n<html><title>Welcome to nginx!</title></html>");
  auto r = connect("blue", std::move(f));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
  EXPECT_NE(
      r.status().message().find("cluster 'blue' at http://127.0.0.1:19200: answered with "
                                "something that is not Elasticsearch: <!DOCTYPE html> <html>"),
      std::string::npos)
      << r.status().message();

  auto g = std::make_unique<FakeHttp>();
  g->expect("GET", "/", 400, "Client sent an HTTP request to an HTTPS server.\n");
  auto s = connect("blue", std::move(g));
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), Code::kProtocol);
  EXPECT_NE(s.status().message().find("not Elasticsearch"), std::string::npos);
}

// ---- scan ----

std::string hit(int i, const std::string& sort) {
  return R"({"_index":"i","_id":")" + std::to_string(i) + R"(","_version":1,"_seq_no":)" +
         std::to_string(i) + R"(,"_primary_term":1,"_score":null,"_routing":"r","_source":{"n": )" +
         std::to_string(i) + R"( , "s":"a\"b"},"sort":)" + sort + "}";
}

TEST(Scan, PitPagesCheckpointAndClose) {
  Fixture fx;
  fx.fake->expect("POST", "/i/_pit?keep_alive=5m", 200, R"({"id":"PIT1"})");
  ScanOptions o;
  o.batch_size = 2;
  o.slices = 2;
  o.slice_id = 1;
  auto s = fx.client->scan(IndexName("i"), o);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto& sc = **s;
  fx.fake->expect(
      "POST", "/_search", 200,
      R"({"pit_id":"PIT2","took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":3,"relation":"eq"},"max_score":null,"hits":[)" +
          hit(0, "[5]") + "," + hit(1, "[9]") + "]}}");
  auto p1 = sc.next();
  ASSERT_TRUE(p1.is_ok()) << p1.status().to_string();
  ASSERT_EQ(p1->size(), 2u);
  EXPECT_EQ((*p1)[0].source, R"({"n": 0 , "s":"a\"b"})");
  EXPECT_EQ((*p1)[1].seq_no.get(), 1);
  EXPECT_EQ((*p1)[1].routing, "r");
  EXPECT_EQ(sc.checkpoint(), nlohmann::json::parse("[9]"));
  auto body1 = nlohmann::json::parse(fx.fake->sent.back().body);
  EXPECT_EQ(body1["pit"]["id"], "PIT1");
  EXPECT_EQ(body1["slice"], nlohmann::json::parse(R"({"id":1,"max":2})"));
  EXPECT_EQ(body1["sort"],
            nlohmann::json::parse(
                R"([{"_seq_no":{"order":"asc","unmapped_type":"long"}},{"_shard_doc":"asc"}])"));
  EXPECT_TRUE(body1["seq_no_primary_term"].get<bool>());
  EXPECT_FALSE(body1.contains("search_after"));

  fx.fake->expect(
      "POST", "/_search", 200,
      R"({"pit_id":"PIT2","_shards":{"total":1,"successful":1,"failed":0},"hits":{"hits":[)" +
          hit(2, "[12]") + "]}}");
  auto p2 = sc.next();
  ASSERT_TRUE(p2.is_ok());
  ASSERT_EQ(p2->size(), 1u);
  auto body2 = nlohmann::json::parse(fx.fake->sent.back().body);
  EXPECT_EQ(body2["pit"]["id"], "PIT2");
  EXPECT_EQ(body2["search_after"], nlohmann::json::parse("[9]"));
  // Short page: done without another request.
  size_t n = fx.fake->sent.size();
  auto p3 = sc.next();
  ASSERT_TRUE(p3.is_ok());
  EXPECT_TRUE(p3->empty());
  EXPECT_EQ(fx.fake->sent.size(), n);
  fx.fake->expect("DELETE", "/_pit", 200, R"({"succeeded":true,"num_freed":1})");
  EXPECT_TRUE(sc.close().is_ok());
  EXPECT_EQ(nlohmann::json::parse(fx.fake->sent.back().body)["id"], "PIT2");
  EXPECT_TRUE(sc.close().is_ok());  // idempotent, no request
  EXPECT_EQ(fx.fake->sent.size(), n + 1);
}

TEST(Scan, PitResumeAndExpiry) {
  Fixture fx;
  fx.fake->expect("POST", "/i/_pit", 200, R"({"id":"P"})");
  ScanOptions o;
  o.search_after = nlohmann::json::parse("[42]");
  auto s = fx.client->scan(IndexName("i"), o);
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ((*s)->checkpoint(), nlohmann::json::parse("[42]"));
  fx.fake->expect(
      "POST", "/_search", 404,
      R"({"error":{"root_cause":[{"type":"search_context_missing_exception","reason":"No search context found for id [3]"}],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,"failed_shards":[]},"status":404})");
  auto p = (*s)->next();
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("scroll/PIT for index 'i' expired: resume from checkpoint"),
            std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(fx.fake->sent.back().body)["search_after"],
            nlohmann::json::parse("[42]"));
  fx.fake->expect("DELETE", "/_pit", 404, R"({"succeeded":true,"num_freed":0})");
}

TEST(Scan, ShardFailureIsAnError) {
  Fixture fx;
  fx.fake->expect("POST", "/i/_pit", 200, R"({"id":"P"})");
  auto s = fx.client->scan(IndexName("i"), ScanOptions{});
  ASSERT_TRUE(s.is_ok());
  fx.fake->expect(
      "POST", "/_search", 200,
      R"({"pit_id":"P","_shards":{"total":2,"successful":1,"failed":1,"failures":[{"shard":1,"reason":{"type":"x","reason":"boom"}}]},"hits":{"hits":[]}})");
  auto p = (*s)->next();
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), Code::kUnavailable);
  EXPECT_NE(p.status().message().find("1 shard(s) failed"), std::string::npos);
  fx.fake->expect("DELETE", "/_pit", 200, "{}");
}

TEST(Scan, ScrollOnOldClusters) {
  Fixture fx({7, 9, 0}, "blue");
  ScanOptions o;
  o.slices = 3;
  o.slice_id = 2;
  auto s = fx.client->scan(IndexName("i"), o);
  ASSERT_TRUE(s.is_ok());
  EXPECT_TRUE(fx.fake->sent.empty());  // no PIT opened
  fx.fake->expect("POST", "/i/_search?scroll=5m", 200,
                  R"({"_scroll_id":"S1","hits":{"hits":[)" + hit(0, "[0]") + "]}}");
  auto p1 = (*s)->next();
  ASSERT_TRUE(p1.is_ok()) << p1.status().to_string();
  ASSERT_EQ(p1->size(), 1u);
  EXPECT_FALSE((*s)->checkpoint());
  auto b = nlohmann::json::parse(fx.fake->sent.back().body);
  EXPECT_EQ(b["slice"], nlohmann::json::parse(R"({"id":2,"max":3})"));
  EXPECT_EQ(b["sort"], nlohmann::json::parse(R"(["_doc"])"));
  EXPECT_FALSE(fx.fake->sent.back().idempotent);
  fx.fake->expect("POST", "/_search/scroll", 200, R"({"_scroll_id":"S2","hits":{"hits":[]}})");
  fx.fake->expect("DELETE", "/_search/scroll", 200, R"({"succeeded":true,"num_freed":1})");
  auto p2 = (*s)->next();
  ASSERT_TRUE(p2.is_ok());
  EXPECT_TRUE(p2->empty());
  EXPECT_EQ(nlohmann::json::parse(fx.fake->sent[1].body)["scroll_id"], "S1");
  EXPECT_EQ(nlohmann::json::parse(fx.fake->sent[2].body)["scroll_id"][0], "S2");
}

TEST(Scan, ScrollExpired) {
  Fixture fx({6, 8, 23}, "blue");
  auto s = fx.client->scan(IndexName("i"), ScanOptions{});
  ASSERT_TRUE(s.is_ok());
  fx.fake->expect("POST", "/i/_search?scroll=5m", 200,
                  R"({"_scroll_id":"S1","hits":{"hits":[)" + hit(0, "[0]") + "]}}");
  ASSERT_TRUE((*s)->next().is_ok());
  fx.fake->expect(
      "POST", "/_search/scroll", 404,
      R"({"error":{"root_cause":[{"type":"search_context_missing_exception","reason":"No search context found for id [1]"}],"type":"search_phase_execution_exception","reason":"all shards failed"},"status":404})");
  auto p = (*s)->next();
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  fx.fake->expect("DELETE", "/_search/scroll", 404, "{}");
}

// verify --quick needs only (id, routing, version): source=false asks for
// no _source on both scan paths, and hits without one parse.
TEST(Scan, SourceOffSendsSourceFalseOnPitAndScroll) {
  std::string bare =
      R"({"_index":"i","_id":"7","_version":3,"_seq_no":7,"_primary_term":1,"_routing":"r","sort":[7]})";
  {
    Fixture fx;
    fx.fake->expect("POST", "/i/_pit?keep_alive=5m", 200, R"({"id":"P"})");
    ScanOptions o;
    o.source = false;
    auto s = fx.client->scan(IndexName("i"), o);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    fx.fake->expect(
        "POST", "/_search", 200,
        R"({"pit_id":"P","_shards":{"total":1,"successful":1,"failed":0},"hits":{"hits":[)" + bare +
            "]}}");
    auto p = (*s)->next();
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
    ASSERT_EQ(p->size(), 1u);
    EXPECT_EQ((*p)[0].id.get(), "7");
    EXPECT_EQ((*p)[0].seq_no.get(), 7);
    EXPECT_EQ((*p)[0].routing, "r");
    EXPECT_TRUE((*p)[0].source.empty());
    auto body = nlohmann::json::parse(fx.fake->sent.back().body);
    EXPECT_EQ(body["_source"], false);
    EXPECT_TRUE(body["version"].get<bool>());
    EXPECT_TRUE(body["seq_no_primary_term"].get<bool>());
    fx.fake->expect("DELETE", "/_pit", 200, "{}");
  }
  {
    Fixture fx({7, 9, 0}, "blue");
    ScanOptions o;
    o.source = false;
    auto s = fx.client->scan(IndexName("i"), o);
    ASSERT_TRUE(s.is_ok());
    fx.fake->expect("POST", "/i/_search?scroll=5m", 200,
                    R"({"_scroll_id":"S1","hits":{"hits":[)" + bare + "]}}");
    ASSERT_TRUE((*s)->next().is_ok());
    EXPECT_EQ(nlohmann::json::parse(fx.fake->sent.back().body)["_source"], false);
    fx.fake->expect("DELETE", "/_search/scroll", 200, "{}");
  }
  {
    // The default (backfill) still fetches the source.
    Fixture fx({7, 9, 0}, "blue");
    auto s = fx.client->scan(IndexName("i"), ScanOptions{});
    ASSERT_TRUE(s.is_ok());
    fx.fake->expect("POST", "/i/_search?scroll=5m", 200,
                    R"({"_scroll_id":"S1","hits":{"hits":[)" + hit(0, "[0]") + "]}}");
    ASSERT_TRUE((*s)->next().is_ok());
    EXPECT_EQ(nlohmann::json::parse(fx.fake->sent.back().body)["_source"], true);
    fx.fake->expect("DELETE", "/_search/scroll", 200, "{}");
  }
}

TEST(Scan, BadSlice) {
  Fixture fx;
  ScanOptions o;
  o.slices = 2;
  o.slice_id = 2;
  EXPECT_EQ(fx.client->scan(IndexName("i"), o).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::es

namespace tandem::es {
namespace {

TEST(Connect, FallsBackWhenRootIsNotServed) {
  auto f = std::make_unique<FakeHttp>();
  f->expect(
      "GET", "/", 405,
      R"({"error":"Incorrect HTTP method for uri [/] and method [GET], allowed: [DELETE]","status":405})");
  f->expect(
      "GET", "/_nodes/_local", 200,
      R"({"cluster_name":"tandem-green","nodes":{"TWuY":{"name":"green","version":"8.19.7"}}})");
  f->expect("GET", "/_cluster/state/metadata", 200, R"({"metadata":{"cluster_uuid":"1ZSN"}})");
  auto r = connect("green", std::move(f));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)->info().version, (Version{8, 19, 7}));
  EXPECT_EQ((*r)->info().cluster_name, "tandem-green");
  EXPECT_EQ((*r)->info().cluster_uuid, "1ZSN");
  EXPECT_TRUE((*r)->info().caps.compat_headers);
}

// _mget answers as ES 7.x/8.x write them: found, not found, a missing
// index, a closed index and a shard failure, and a malformed answer.
TEST(ParseMget, KeepsOrderAndSourceBytesAndClassifiesPerDocumentErrors) {
  const std::string body = R"({"docs":[)"
                           R"({"_index":"p","_id":"a","_version":3,"_seq_no":7,"_primary_term":2,)"
                           R"("_routing":"r1","found":true,"_source":{"n": 1,  "s":"x"}},)"
                           R"({"_index":"p","_id":"b","found":false},)"
                           R"({"_index":"gone","_id":"c","error":{"root_cause":[],)"
                           R"("type":"index_not_found_exception","reason":"no such index [gone]"}})"
                           R"(]})";
  std::vector<Doc> docs;
  ASSERT_TRUE(detail::parse_mget(body, "blue", &docs).is_ok());
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(docs[0].found);
  EXPECT_EQ(docs[0].id.get(), "a");
  EXPECT_EQ(docs[0].routing, "r1");
  EXPECT_EQ(docs[0].seq_no.get(), 7);
  EXPECT_EQ(docs[0].primary_term.get(), 2);
  EXPECT_EQ(docs[0].version, 3);
  EXPECT_EQ(docs[0].source, R"({"n": 1,  "s":"x"})");  // byte-exact
  EXPECT_FALSE(docs[1].found);
  EXPECT_FALSE(docs[2].found);
  EXPECT_EQ(docs[2].index.get(), "gone");

  docs.clear();
  Status shard = detail::parse_mget(
      R"({"docs":[{"_index":"p","_id":"d","error":{"type":"no_shard_available_action_exception",)"
      R"("reason":"No shard available for [get [p][d]]"}}]})",
      "blue", &docs);
  EXPECT_EQ(shard.code(), Code::kUnavailable) << shard.to_string();
  EXPECT_NE(shard.message().find("cluster 'blue' index 'p' id 'd'"), std::string::npos)
      << shard.to_string();
  EXPECT_NE(shard.message().find("no_shard_available_action_exception"), std::string::npos);

  docs.clear();
  Status closed = detail::parse_mget(
      R"({"docs":[{"_index":"p","_id":"e","error":{"type":"index_closed_exception",)"
      R"("reason":"closed","index":"p"}}]})",
      "green", &docs);
  EXPECT_EQ(closed.http_status(), 400) << closed.to_string();
  EXPECT_NE(closed.message().find("cluster 'green' index 'p' id 'e'"), std::string::npos);

  for (const char* bad : {"", "[]", R"({"docs":{}})", R"({"docs":[1]})", R"({"docs":[{"_id":)"}) {
    docs.clear();
    Status s = detail::parse_mget(bad, "blue", &docs);
    EXPECT_EQ(s.code(), Code::kProtocol) << "body: " << bad << " -> " << s.to_string();
    EXPECT_NE(s.message().find("cluster 'blue'"), std::string::npos);
  }
}

}  // namespace
}  // namespace tandem::es
