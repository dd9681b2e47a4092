// The same scenario against both real clusters: blue (ES 7.17) and green
// (ES 8.x). Needs `scripts/services up`; a missing service fails the test
// with its URL.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>

#include "es/es.h"
#include "support/services.h"

namespace tandem::es {
namespace {

struct Target {
  std::string label;
  std::string url;
};
void PrintTo(const Target& t, std::ostream* os) {
  *os << t.label << " " << t.url;
}

std::unique_ptr<Client> must_connect(const Target& t) {
  auto url = http::Url::parse(t.url);
  EXPECT_TRUE(url.is_ok()) << url.status().to_string();
  if (!url.is_ok()) return nullptr;
  http::ClientOptions o;
  o.url = *url;
  auto c = connect(t.label, o);
  EXPECT_TRUE(c.is_ok()) << "is `scripts/services up` running? " << c.status().to_string();
  return c.is_ok() ? std::move(c).value() : nullptr;
}

class EsIt : public ::testing::TestWithParam<Target> {
 protected:
  void SetUp() override {
    c_ = must_connect(GetParam());
    ASSERT_TRUE(c_);
  }
  void TearDown() override {
    if (!c_) return;
    for (const auto& i : cleanup_) (void)c_->delete_index(IndexName(i));
    for (const auto& p : cleanup_paths_) (void)c_->call("DELETE", p);
  }
  IndexName fresh_index(const std::string& prefix) {
    std::string n = testing::unique_name("tandem-es-it-" + prefix + "-" + GetParam().label);
    cleanup_.push_back(n);
    return IndexName(n);
  }
  std::unique_ptr<Client> c_;
  std::vector<std::string> cleanup_;
  std::vector<std::string> cleanup_paths_;
};

const nlohmann::json kMapping = nlohmann::json::parse(R"({
  "settings": {"number_of_shards": 2, "number_of_replicas": 0},
  "mappings": {"properties": {
    "k": {"type": "keyword"}, "t": {"type": "text"},
    "n": {"type": "long"}, "d": {"type": "date"}}}})");

std::string id_for(int i) {
  switch (i) {
    case 1:
      return "quote\"id";
    case 2:
      return "back\\slash";
    case 3:
      return "slash/and space?&=#";
    case 4:
      return "ünïcødé-✓";
    case 5:
      return "tab\tid";
    default:
      return "doc-" + std::to_string(i);
  }
}

// Varied formatting so that byte-exactness of _source is really tested.
std::string source_for(int i) {
  char d[32];
  snprintf(d, sizeof d, "2024-01-%02dT%02d:%02d:00Z", 1 + i % 28, i % 24, i % 60);
  switch (i % 4) {
    case 0:
      return "{\"k\":\"key-" + std::to_string(i) + "\",\"t\":\"some text " + std::to_string(i) +
             "\",\"n\":" + std::to_string(i) + ",\"d\":\"" + d + "\"}";
    case 1:
      return "{ \"k\" : \"k\\u00e9y\\\"" + std::to_string(i) +
             "\" ,  \"n\" : " + std::to_string(-i) + " , \"t\":\"caf\u00e9 \\\\ \\n x\" }";
    case 2:
      return "{\"n\":" + std::to_string(i) + ".0e0,\"d\":\"" + d +
             "\",\"extra\":{\"arr\":[1,2,3],\"o\":{\"z\":null},\"b\":true}}";
    default:
      return "{\"k\":\"" + std::to_string(i) + "\",\"t\":\"\u2603 snow\"}";
  }
}

constexpr int kDocs = 10000;

void load(Client& c, const IndexName& idx) {
  BulkBuilder b(c.info().caps.bulk_type_required);
  for (int i = 0; i < kDocs; ++i) {
    b.index(idx, DocId(id_for(i)), source_for(i), std::nullopt, VersionSpec{uint64_t(i) + 1});
    if (b.size() == 1000) {
      auto r = c.bulk(b);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      ASSERT_EQ(r->items.size(), 1000u);
      for (const auto& it : r->items) {
        ASSERT_TRUE(it.ok()) << it.id.get() << ": " << it.error_type << ": " << it.error_reason;
      }
      ASSERT_FALSE(r->errors);
      for (const auto& it : r->items) {
        ASSERT_EQ(it.status, 201) << it.id.get() << " " << it.error_type << " " << it.error_reason;
        ASSERT_GE(it.seq_no.get(), 0);
        ASSERT_EQ(it.result, "created");
      }
      b.clear();
    }
  }
  ASSERT_TRUE(c.refresh(idx).is_ok());
}

// Reads a whole slice; returns id -> doc.
void drain(Client& c, const IndexName& idx, const ScanOptions& o, std::map<std::string, Doc>* out,
           int max_pages = -1, std::optional<nlohmann::json>* checkpoint = nullptr,
           size_t* repeats = nullptr) {
  auto s = c.scan(idx, o);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  for (int page = 0; max_pages < 0 || page < max_pages; ++page) {
    auto p = (*s)->next();
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
    if (p->empty()) break;
    for (auto& d : *p) {
      std::string id = d.id.get();
      if (repeats && out->count(id)) {
        ++*repeats;
        continue;
      }
      ASSERT_TRUE(out->emplace(id, std::move(d)).second) << "duplicate hit " << id;
    }
  }
  if (checkpoint) *checkpoint = (*s)->checkpoint();
  EXPECT_TRUE((*s)->close().is_ok());
}

void expect_all(const std::map<std::string, Doc>& got) {
  ASSERT_EQ(got.size(), size_t(kDocs));
  for (int i = 0; i < kDocs; ++i) {
    auto it = got.find(id_for(i));
    ASSERT_NE(it, got.end()) << id_for(i);
    ASSERT_EQ(it->second.source, source_for(i)) << id_for(i);
    ASSERT_GE(it->second.seq_no.get(), 0);
    ASSERT_GE(it->second.primary_term.get(), 1);
    ASSERT_EQ(it->second.version, i + 1);
  }
}

TEST_P(EsIt, LoadScanDelete) {
  Client& c = *c_;
  IndexName idx = fresh_index("scan");
  ASSERT_TRUE(c.create_index(idx, kMapping).is_ok());
  load(c, idx);
  if (HasFatalFailure()) return;
  auto n = c.count(idx);
  ASSERT_TRUE(n.is_ok()) << n.status().to_string();
  EXPECT_EQ(*n, uint64_t(kDocs));

  {  // default scan (PIT on both clusters)
    std::map<std::string, Doc> got;
    ScanOptions o;
    drain(c, idx, o, &got);
    expect_all(got);
  }
  {  // two slices, PIT
    std::map<std::string, Doc> got;
    for (int s = 0; s < 2; ++s) {
      ScanOptions o;
      o.slices = 2;
      o.slice_id = s;
      o.batch_size = 700;
      size_t before = got.size();
      drain(c, idx, o, &got);
      EXPECT_GT(got.size(), before) << "slice " << s << " empty";
    }
    expect_all(got);
  }
  {  // two slices, scroll
    std::map<std::string, Doc> got;
    for (int s = 0; s < 2; ++s) {
      ScanOptions o;
      o.slices = 2;
      o.slice_id = s;
      o.force_scroll = true;
      drain(c, idx, o, &got);
    }
    expect_all(got);
  }
  // Delete 1000 through a versioned bulk.
  BulkBuilder del(c.info().caps.bulk_type_required);
  for (int i = 0; i < 1000; ++i)
    del.remove(idx, DocId(id_for(i)), std::nullopt, VersionSpec{100000});
  EXPECT_TRUE(del.all_versioned());
  auto r = c.bulk(del, "true");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_FALSE(r->errors);
  for (const auto& it : r->items) {
    EXPECT_EQ(it.op, "delete");
    EXPECT_EQ(it.status, 200) << it.error_reason;
    EXPECT_EQ(it.result, "deleted");
  }
  auto n2 = c.count(idx);
  ASSERT_TRUE(n2.is_ok());
  EXPECT_EQ(*n2, uint64_t(kDocs - 1000));

  {  // checkpoint, merge (renumbers Lucene doc ids), resume on a new PIT
    std::map<std::string, Doc> got;
    std::optional<nlohmann::json> cp;
    ScanOptions o;
    o.batch_size = 1000;
    drain(c, idx, o, &got, 3, &cp);
    ASSERT_EQ(got.size(), 3000u);
    ASSERT_TRUE(cp.has_value());
    auto fm = c.call("POST", "/" + idx.get() + "/_forcemerge?max_num_segments=1");
    ASSERT_TRUE(fm.is_ok()) << fm.status().to_string();
    ScanOptions r;
    r.batch_size = 1000;
    r.search_after = cp;
    // On a new PIT, documents sharing the checkpoint's _seq_no (the
    // checkpoint document itself, at least) may be returned again; none
    // may be missed.
    size_t repeats = 0;
    drain(c, idx, r, &got, -1, nullptr, &repeats);
    EXPECT_LE(repeats, 2u);
    size_t live = 0;
    for (int i = 1000; i < kDocs; ++i) {
      auto it = got.find(id_for(i));
      ASSERT_NE(it, got.end()) << "missed after resume: " << id_for(i);
      ASSERT_EQ(it->second.source, source_for(i));
      ++live;
    }
    EXPECT_EQ(live, size_t(kDocs - 1000));
  }

  auto gone = c.get(idx, DocId(id_for(3)));
  ASSERT_TRUE(gone.is_ok()) << gone.status().to_string();
  EXPECT_FALSE(gone->found);
  auto here = c.get(idx, DocId(id_for(1234)));
  ASSERT_TRUE(here.is_ok());
  EXPECT_TRUE(here->found);
  EXPECT_EQ(here->source, source_for(1234));
  EXPECT_EQ(here->version, 1235);
  EXPECT_GE(here->seq_no.get(), 0);

  auto stats = c.indices(idx.get());
  ASSERT_TRUE(stats.is_ok()) << stats.status().to_string();
  ASSERT_EQ(stats->size(), 1u);
  EXPECT_EQ((*stats)[0].index, idx);
  EXPECT_EQ((*stats)[0].docs_count, uint64_t(kDocs - 1000));
  EXPECT_GT((*stats)[0].store_size_bytes, 0u);
}

TEST_P(EsIt, ExternalVersions) {
  Client& c = *c_;
  IndexName idx = fresh_index("ver");
  ASSERT_TRUE(c.create_index(idx, kMapping).is_ok());
  auto w = c.index_doc(idx, DocId("v\"1"), R"({"n":10})", VersionSpec{10}, std::string("rt"));
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  EXPECT_EQ(w->version, 10);
  EXPECT_EQ(w->result, "created");
  EXPECT_GE(w->seq_no.get(), 0);
  auto older = c.index_doc(idx, DocId("v\"1"), R"({"n":5})", VersionSpec{5}, std::string("rt"));
  ASSERT_FALSE(older.is_ok());
  EXPECT_EQ(older.status().code(), Code::kConflict);
  EXPECT_EQ(older.status().http_status(), 409);
  EXPECT_NE(older.status().message().find("version_conflict_engine_exception"), std::string::npos)
      << older.status().message();
  EXPECT_NE(older.status().message().find("index '" + idx.get() + "'"), std::string::npos);
  EXPECT_NE(older.status().message().find("id 'v\"1'"), std::string::npos);

  auto g = c.get(idx, DocId("v\"1"), std::string("rt"));
  ASSERT_TRUE(g.is_ok());
  ASSERT_TRUE(g->found);
  EXPECT_EQ(g->source, R"({"n":10})");
  EXPECT_EQ(g->routing, "rt");
  EXPECT_EQ(g->version, 10);

  BulkBuilder b(c.info().caps.bulk_type_required);
  b.index(idx, DocId("v\"1"), R"({"n":7})", std::string("rt"), VersionSpec{7});
  b.index(idx, DocId("v2"), R"({"n":"not a number"})", std::nullopt, VersionSpec{1});
  b.remove(idx, DocId("never-existed"), std::nullopt, VersionSpec{3});
  auto r = c.bulk(b);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_TRUE(r->errors);
  EXPECT_TRUE(r->items[0].version_conflict());
  EXPECT_EQ(r->items[0].error_type, "version_conflict_engine_exception");
  EXPECT_EQ(r->items[1].status, 400);
  // 8.x renamed it document_parsing_exception.
  EXPECT_TRUE(r->items[1].error_type == "mapper_parsing_exception" ||
              r->items[1].error_type == "document_parsing_exception")
      << r->items[1].error_type;
  EXPECT_EQ(r->items[2].status, 404);
  EXPECT_EQ(r->items[2].result, "not_found");
  EXPECT_FALSE(r->items[2].ok());

  auto d = c.delete_doc(idx, DocId("missing"), VersionSpec{2});
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->status, 404);
  EXPECT_EQ(d->result, "not_found");
  auto d2 = c.delete_doc(idx, DocId("v\"1"), VersionSpec{9}, std::string("rt"));
  EXPECT_EQ(d2.status().code(), Code::kConflict);
  auto d3 = c.delete_doc(idx, DocId("v\"1"), VersionSpec{11}, std::string("rt"));
  ASSERT_TRUE(d3.is_ok()) << d3.status().to_string();
  EXPECT_EQ(d3->result, "deleted");
}

// _mget answers in request order, keeps _source byte-exact, honours
// routing, and reports missing documents and missing indices as absent;
// an id that is not UTF-8 (a JSON body can't carry it) is still read.
TEST_P(EsIt, MgetInOrderWithMissingDocsAndIndices) {
  Client& c = *c_;
  IndexName idx = fresh_index("mget");
  ASSERT_TRUE(c.create_index(idx, kMapping).is_ok());
  const std::string not_utf8 = std::string("id-\xff\xfe", 5);
  ASSERT_TRUE(c.index_doc(idx, DocId("a"), R"({"n": 1,  "s":"x"})").is_ok());
  ASSERT_TRUE(c.index_doc(idx, DocId("r"), R"({"n":2})", std::nullopt, std::string("rt")).is_ok());
  ASSERT_TRUE(c.index_doc(idx, DocId(not_utf8), R"({"n":3})").is_ok());
  std::vector<DocRef> refs = {{idx, DocId("r"), std::string("rt")},
                              {idx, DocId("missing"), std::nullopt},
                              {IndexName(idx.get() + "-absent"), DocId("a"), std::nullopt},
                              {idx, DocId(not_utf8), std::nullopt},
                              {idx, DocId("a"), std::nullopt}};
  auto r = c.mget(refs);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), refs.size());
  const auto& d = *r;
  EXPECT_TRUE(d[0].found);
  EXPECT_EQ(d[0].routing, "rt");
  EXPECT_EQ(d[0].source, R"({"n":2})");
  EXPECT_FALSE(d[1].found);
  EXPECT_EQ(d[1].id.get(), "missing");
  EXPECT_FALSE(d[2].found);
  EXPECT_TRUE(d[3].found);  // (ES itself stores such an id with U+FFFD replacements)
  EXPECT_EQ(d[3].source, R"({"n":3})");
  EXPECT_TRUE(d[4].found);
  EXPECT_EQ(d[4].source, R"({"n": 1,  "s":"x"})");
  EXPECT_GE(d[4].seq_no.get(), 0);
  EXPECT_GE(d[4].primary_term.get(), 1);
  EXPECT_EQ(d[4].version, 1);

  // A non-UTF-8 id in a missing index is absent, as in the batched path.
  auto absent = c.mget({{IndexName(idx.get() + "-absent"), DocId(not_utf8), std::nullopt}});
  ASSERT_TRUE(absent.is_ok()) << absent.status().to_string();
  EXPECT_FALSE((*absent)[0].found);

  // A closed index fails the call the way GET does (400, not retried),
  // naming the cluster, index and id.
  ASSERT_TRUE(c.call("POST", "/" + idx.get() + "/_close").is_ok());
  auto closed = c.mget({{idx, DocId("a"), std::nullopt}});
  ASSERT_FALSE(closed.is_ok());
  EXPECT_EQ(closed.status().http_status(), 400) << closed.status().to_string();
  EXPECT_NE(closed.status().message().find("index '" + idx.get() + "' id 'a'"), std::string::npos)
      << closed.status().to_string();
  EXPECT_NE(closed.status().message().find("index_closed_exception"), std::string::npos)
      << closed.status().to_string();
}

TEST_P(EsIt, Metadata) {
  Client& c = *c_;
  auto h = c.health();
  ASSERT_TRUE(h.is_ok()) << h.status().to_string();
  EXPECT_GE(h->number_of_nodes, 1);
  EXPECT_FALSE(h->status.empty());

  IndexName idx = fresh_index("meta");
  ASSERT_TRUE(c.create_index(idx, kMapping).is_ok());
  auto gi = c.get_index(idx);
  ASSERT_TRUE(gi.is_ok()) << gi.status().to_string();
  EXPECT_EQ((*gi)["mappings"]["properties"]["k"]["type"], "keyword");
  EXPECT_EQ((*gi)["settings"]["index"]["number_of_shards"], "2");

  ASSERT_TRUE(c.put_settings(idx, {{"index", {{"refresh_interval", "-1"}}}}).is_ok());
  auto gi2 = c.get_index(idx);
  ASSERT_TRUE(gi2.is_ok());
  EXPECT_EQ((*gi2)["settings"]["index"]["refresh_interval"], "-1");

  std::string alias = idx.get() + "-alias";
  ASSERT_TRUE(
      c.update_aliases(nlohmann::json::array({{{"add", {{"index", idx.get()}, {"alias", alias}}}}}))
          .is_ok());
  auto al = c.get_aliases();
  ASSERT_TRUE(al.is_ok()) << al.status().to_string();
  EXPECT_TRUE((*al)[idx.get()]["aliases"].contains(alias)) << al->dump();

  std::string base = testing::unique_name("tandem-es-it-tpl-" + GetParam().label);
  std::string legacy = base + "-legacy", comp = base + "-comp", composable = base + "-ct";
  cleanup_paths_ = {"/_index_template/" + composable, "/_component_template/" + comp,
                    "/_template/" + legacy};
  ASSERT_TRUE(c.put_legacy_template(legacy, {{"index_patterns", {base + "-l-*"}},
                                             {"order", 3},
                                             {"settings", {{"number_of_shards", 1}}}})
                  .is_ok());
  auto lt = c.get_legacy_templates();
  ASSERT_TRUE(lt.is_ok());
  ASSERT_TRUE(lt->contains(legacy));
  EXPECT_EQ((*lt)[legacy]["order"], 3);

  ASSERT_TRUE(c.info().caps.composable_templates);
  auto st = c.put_component_template(
      comp, {{"template", {{"mappings", {{"properties", {{"c", {{"type", "keyword"}}}}}}}}}});
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  auto st2 = c.put_index_template(
      composable, {{"index_patterns", {base + "-c-*"}}, {"priority", 77}, {"composed_of", {comp}}});
  ASSERT_TRUE(st2.is_ok()) << st2.to_string();
  auto ct = c.get_component_templates();
  ASSERT_TRUE(ct.is_ok());
  ASSERT_TRUE(ct->contains(comp));
  EXPECT_EQ((*ct)[comp]["template"]["mappings"]["properties"]["c"]["type"], "keyword");
  auto it = c.get_index_templates();
  ASSERT_TRUE(it.is_ok());
  ASSERT_TRUE(it->contains(composable));
  EXPECT_EQ((*it)[composable]["priority"], 77);
  EXPECT_EQ((*it)[composable]["composed_of"][0], comp);
}

TEST_P(EsIt, Errors) {
  Client& c = *c_;
  IndexName missing("tandem-es-it-definitely-missing");
  auto g = c.get(missing, DocId("1"));
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), Code::kNotFound);
  EXPECT_EQ(g.status().http_status(), 404);
  EXPECT_NE(g.status().message().find("cluster '" + GetParam().label + "' index '" + missing.get() +
                                      "' id '1': index_not_found_exception"),
            std::string::npos)
      << g.status().message();
  EXPECT_EQ(c.get_index(missing).status().code(), Code::kNotFound);
  EXPECT_EQ(c.count(missing).status().code(), Code::kNotFound);
  EXPECT_EQ(c.scan(missing, ScanOptions{}).status().code(), Code::kNotFound);
  auto bad = c.create_index(IndexName("UPPER-case-invalid"), nlohmann::json::object());
  EXPECT_EQ(bad.code(), Code::kInvalidArgument) << bad.to_string();
  EXPECT_NE(bad.message().find("invalid_index_name_exception"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Clusters, EsIt,
                         ::testing::Values(Target{"blue", testing::blue_url()},
                                           Target{"green", testing::green_url()}),
                         [](const auto& info) { return info.param.label; });

TEST(EsConnect, ClosedPortIsUnavailableAndNamesUrl) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  int port = ntohs(a.sin_port);
  ::close(fd);  // nothing listens there now
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto u = http::Url::parse(url);
  ASSERT_TRUE(u.is_ok());
  http::ClientOptions o;
  o.url = *u;
  o.max_retries = 0;
  auto c = connect("blue", o);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  EXPECT_NE(c.status().message().find(url), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("cluster 'blue'"), std::string::npos);
  EXPECT_EQ(c.status().message().find('\n'), std::string::npos);
}

TEST(EsConnect, DetectsBothClusters) {
  auto b = must_connect({"blue", testing::blue_url()});
  auto g = must_connect({"green", testing::green_url()});
  ASSERT_TRUE(b && g);
  EXPECT_EQ(b->info().version.major, 7);
  EXPECT_EQ(g->info().version.major, 8);
  EXPECT_FALSE(b->info().cluster_name.empty());
  EXPECT_FALSE(g->info().cluster_name.empty());
  EXPECT_FALSE(g->info().cluster_uuid.empty());
}

}  // namespace
}  // namespace tandem::es
