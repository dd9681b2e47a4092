// WriteCapture end to end, without a network: begin() -> (recorded ES
// answer) -> complete(), with a fake log, real intent journal and a real
// file-log spill journal in temp directories.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "capture_testdata.h"
#include "http/http.h"
#include "proxy/begin_blocking.h"
#include "proxy/capture.h"

namespace tandem::proxy {
namespace {

using proxy::testing::eventually;
using proxy::testing::FakeLog;
using proxy::testing::testdata;
using namespace std::chrono_literals;

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem-capture-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    opts_.spill_dir = (dir_ / "spill").string();
    opts_.intents_dir = (dir_ / "intents").string();
    opts_.log_deadline = 200ms;
    opts_.epoch = Epoch(2);
    tuning_.probe_interval = 50ms;
    tuning_.spill_deadline = 1000ms;
  }
  void TearDown() override {
    cap_.reset();
    std::filesystem::remove_all(dir_);
  }

  void open() {
    cap_.reset();
    auto c = make_capture(opts_, &log_, &marks_, tuning_);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    cap_ = std::move(c).value();
  }

  // One request through the seam; returns the client body.
  std::string roundtrip(const std::string& method, const std::string& target,
                        const std::string& body, int status, const std::string& answer,
                        BeginResult* begun = nullptr,
                        const std::vector<HttpHeader>* request_headers = nullptr,
                        const std::vector<HttpHeader>* answer_headers = nullptr) {
    Classification cls = classify(method, target);
    RequestView req{method, target, request_headers, body};
    BeginResult b = testing::begin_blocking(*cap_, req, cls);
    if (begun) *begun = b;
    EXPECT_FALSE(b.reply) << b.reply->body;
    std::promise<std::string> p;
    cap_->complete(b.ticket, UpstreamAnswer{status, answer_headers, answer},
                   [&](std::string s) { p.set_value(std::move(s)); });
    auto f = p.get_future();
    EXPECT_EQ(f.wait_for(5s), std::future_status::ready);
    return f.get();
  }

  std::vector<event::ChangeEvent> logged() {
    std::vector<event::ChangeEvent> out;
    for (const auto& r : log_.records()) {
      auto e = event::decode(r.value);
      EXPECT_TRUE(e.is_ok()) << e.status().to_string() << " in " << r.value;
      if (e.is_ok()) out.push_back(std::move(e).value());
    }
    return out;
  }

  CaptureStatus status() const { return cap_->status(); }

  std::filesystem::path dir_;
  CaptureOptions opts_;
  CaptureTuning tuning_;
  FakeLog log_;
  MemoryMarks marks_;
  std::unique_ptr<WriteCapture> cap_;
};

TEST_F(CaptureTest, IndexDocument) {
  open();
  std::string answer = testdata("es7_doc_index.json");
  BeginResult b;
  std::string client =
      roundtrip("PUT", "/capture-td-es7/_doc/d1?routing=r1", "{\"n\":5}", 201, answer, &b);
  EXPECT_FALSE(b.ticket.rewritten_target);
  EXPECT_FALSE(b.ticket.rewritten_body);
  EXPECT_EQ(client, answer);
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, event::Op::kIndex);
  EXPECT_EQ(ev[0].id.get(), "d1");
  EXPECT_EQ(ev[0].routing, "r1");
  EXPECT_EQ(ev[0].seq_no.get(), 7);
  EXPECT_EQ(ev[0].epoch.get(), 2u);
  EXPECT_EQ(ev[0].source, "{\"n\":5}");
  EXPECT_EQ(log_.records()[0].key, event::partition_key(ev[0]));
  auto s = status();
  EXPECT_EQ(s.events_emitted, 1u);
  EXPECT_EQ(s.intents_open, 0u);
  EXPECT_EQ(s.durability, Durability::kSync);
}

TEST_F(CaptureTest, SetEpochAppliesToLaterEvents) {
  open();
  roundtrip("PUT", "/capture-td-es7/_doc/d1", "{\"n\":5}", 201, testdata("es7_doc_index.json"));
  ASSERT_TRUE(cap_->set_epoch(Epoch(3)).is_ok());
  roundtrip("PUT", "/capture-td-es7/_doc/d1", "{\"n\":5}", 201, testdata("es7_doc_index.json"));
  auto ev = logged();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].epoch.get(), 2u);
  EXPECT_EQ(ev[1].epoch.get(), 3u);
  EXPECT_EQ(status().epoch, Epoch(3));
}

TEST_F(CaptureTest, UpdateAsksForSourceAndStripsIt) {
  open();
  BeginResult b;
  std::string answer = testdata("es8_doc_update_source.json");
  std::string client = roundtrip("POST", "/capture-td-es8/_update/d1?routing=r1",
                                 "{\"doc\":{\"m\":1}}", 200, answer, &b);
  ASSERT_TRUE(b.ticket.rewritten_target);
  EXPECT_EQ(*b.ticket.rewritten_target, "/capture-td-es8/_update/d1?routing=r1&_source=true");
  EXPECT_EQ(client.find("\"get\""), std::string::npos);
  EXPECT_EQ(client, answer.substr(0, answer.find(",\"get\"")) + "}");
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].source, R"({"n":5,"m":1})");
}

TEST_F(CaptureTest, UpdateWithClientSourceParamIsLeftAlone) {
  open();
  BeginResult b;
  std::string answer = testdata("es8_doc_update_source.json");
  std::string client =
      roundtrip("POST", "/capture-td-es8/_update/d1?_source=true", "{\"doc\":{}}", 200, answer, &b);
  EXPECT_FALSE(b.ticket.rewritten_target);
  EXPECT_EQ(client, answer);
}

TEST_F(CaptureTest, UpdateWithAFilteredSourceIsAReconcileAndTheAnswerIsTheClients) {
  // _source=true next to _source_includes still filters (ES applies both),
  // so the client's get is a projection: never the event's source.
  open();
  std::string answer = testdata("es8_doc_update_source.json");
  for (std::string q : {"?_source_includes=n", "?_source=true&_source_includes=n",
                        "?_source_excludes=m", "?_source=n", "?_source_include=n"}) {
    size_t before = logged().size();
    BeginResult b;
    std::string client =
        roundtrip("POST", "/capture-td-es8/_update/d1" + q, "{\"doc\":{\"m\":1}}", 200, answer, &b);
    EXPECT_FALSE(b.ticket.rewritten_target) << q;
    EXPECT_EQ(client, answer) << q;
    auto ev = logged();
    ASSERT_EQ(ev.size(), before + 1) << q;
    EXPECT_EQ(ev.back().op, event::Op::kReconcile) << q;
    EXPECT_TRUE(ev.back().source.empty()) << q;
  }
  // A body _source replaces the URL's: a list, an object, a string filter.
  for (std::string body :
       {R"({"doc":{"m":1},"_source":["n"]})", R"({"doc":{"m":1},"_source":{"includes":["n"]}})",
        R"({"doc":{"m":1},"_source":"n"})"}) {
    BeginResult b;
    roundtrip("POST", "/capture-td-es8/_update/d1?_source=true", body, 200, answer, &b);
    EXPECT_FALSE(b.ticket.rewritten_target) << body;
    EXPECT_EQ(logged().back().op, event::Op::kReconcile) << body;
  }
}

std::string gzip(std::string_view s) {
  auto z = http::encode_content(http::ContentCoding::kGzip, s);
  EXPECT_TRUE(z.is_ok());
  return *z;
}
std::string gunzip(std::string_view s) {
  auto z = http::decode_content(http::ContentCoding::kGzip, s, 1 << 30);
  EXPECT_TRUE(z.is_ok()) << z.status().to_string();
  return z.is_ok() ? *z : std::string();
}

TEST_F(CaptureTest, GzipAnswerToAnAutoIdWriteIsReadAndPassedOnUntouched) {
  // A client that accepts gzip (python-requests, curl --compressed) gets
  // gzip from ES. The auto-generated id is in the compressed answer.
  open();
  std::vector<HttpHeader> gz{{"Content-Encoding", "gzip"}, {"Content-Type", "application/json"}};
  std::string answer = gzip(testdata("es7_doc_autoid.json"));
  std::string client =
      roundtrip("POST", "/capture-td-es7/_doc", R"({"n":1})", 201, answer, nullptr, nullptr, &gz);
  EXPECT_EQ(client, answer) << "nothing injected: the primary's own bytes";
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, event::Op::kIndex);
  EXPECT_FALSE(ev[0].id.get().empty());
  EXPECT_EQ(ev[0].source, R"({"n":1})");
  EXPECT_TRUE(marks_.marks().empty());
}

TEST_F(CaptureTest, GzipAnswerToAnUpdateIsStrippedAndEncodedAgain) {
  open();
  std::vector<HttpHeader> gz{{"content-encoding", "GZIP"}};
  std::string plain = testdata("es8_doc_update_source.json");
  std::string client = roundtrip("POST", "/capture-td-es8/_update/d1", R"({"doc":{"m":1}})", 200,
                                 gzip(plain), nullptr, nullptr, &gz);
  EXPECT_EQ(gunzip(client), plain.substr(0, plain.find(",\"get\"")) + "}");
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, event::Op::kIndex);
  EXPECT_EQ(ev[0].source, R"({"n":5,"m":1})");
}

TEST_F(CaptureTest, GzipBulkRequestIsReadRewrittenAndEncodedAgain) {
  // Logstash sends Content-Encoding: gzip bulks.
  open();
  std::vector<HttpHeader> req_gz{{"Content-Encoding", "gzip"},
                                 {"Content-Type", "application/x-ndjson"}};
  BeginResult b;
  std::string client =
      roundtrip("POST", "/_bulk", gzip(testdata("es8_bulk_injected_request.ndjson")), 200,
                testdata("es8_bulk_injected_response.json"), &b, &req_gz);
  ASSERT_TRUE(b.ticket.rewritten_body);
  EXPECT_EQ(gunzip(*b.ticket.rewritten_body), testdata("es8_bulk_injected_forwarded.ndjson"));
  EXPECT_EQ(client, testdata("es8_bulk_injected_client.json"));
  auto ev = logged();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].source, R"({"n":1})");
  EXPECT_EQ(ev[2].source, R"({"n":1,"s":"a","t":"b"})");
}

TEST_F(CaptureTest, CorruptGzipBodiesFallBackToReconcilesNeverToWrongEvents) {
  open();
  std::vector<HttpHeader> gz{{"Content-Encoding", "gzip"}};
  std::string bad = gzip(R"({"n":1})");
  bad.resize(bad.size() - 6);  // truncated
  std::string answer = testdata("es7_doc_index.json");
  roundtrip("PUT", "/capture-td-es7/_doc/d1", bad, 201, answer, nullptr, &gz);
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, event::Op::kReconcile);
  EXPECT_EQ(ev[0].id.get(), "d1");
}

TEST_F(CaptureTest, DocumentLargerThanTheLogTakesBecomesAReconcile) {
  log_.set_max_record_bytes(256 * 1024, 256 * 1024);
  open();
  std::string big = R"({"blob":")" + std::string(1 << 20, 'x') + R"("})";
  roundtrip("PUT", "/capture-td-es7/_doc/d1", big, 201, testdata("es7_doc_index.json"));
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, event::Op::kReconcile);
  EXPECT_EQ(ev[0].id.get(), "d1");
  EXPECT_EQ(ev[0].seq_no.get(), 7);
  auto s = status();
  EXPECT_EQ(s.refused_total, 1u);
  EXPECT_EQ(s.dead_letters, 0u);
  EXPECT_EQ(s.intents_open, 0u);
}

TEST_F(CaptureTest, BulkRewriteStripAndEvents) {
  open();
  BeginResult b;
  std::string client = roundtrip("POST", "/_bulk", testdata("es8_bulk_injected_request.ndjson"),
                                 200, testdata("es8_bulk_injected_response.json"), &b);
  ASSERT_TRUE(b.ticket.rewritten_body);
  EXPECT_EQ(*b.ticket.rewritten_body, testdata("es8_bulk_injected_forwarded.ndjson"));
  EXPECT_EQ(client, testdata("es8_bulk_injected_client.json"));
  auto ev = logged();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].source, R"({"n":1,"s":"a","t":"b"})");
  EXPECT_EQ(status().intents_open, 0u);
}

TEST_F(CaptureTest, MalformedBulkIsForwardedUnchanged) {
  open();
  BeginResult b;
  std::string body = "{\"update\":{\"_id\":\"1\",\"_index\":\"i\"}}\n{\"doc\":{}}";  // no \n
  std::string err = testdata("es7_doc_create_conflict.json");
  std::string client = roundtrip("POST", "/_bulk", body, 400, err, &b);
  EXPECT_FALSE(b.ticket.rewritten_body);
  EXPECT_EQ(client, err);
  EXPECT_TRUE(logged().empty());
}

TEST_F(CaptureTest, MultiDocRejectedByDefault) {
  open();
  Classification cls = classify("POST", "/products/_update_by_query");
  RequestView req{"POST", "/products/_update_by_query", nullptr, "{}"};
  BeginResult b = testing::begin_blocking(*cap_, req, cls);
  ASSERT_TRUE(b.reply);
  EXPECT_EQ(b.reply->status, 400);
  auto j = nlohmann::json::parse(b.reply->body);
  EXPECT_EQ(j["status"], 400);
  EXPECT_EQ(j["error"]["type"], "tandem_rejected_operation_exception");
  EXPECT_EQ(j["error"]["root_cause"][0]["type"], "tandem_rejected_operation_exception");
  std::string reason = j["error"]["reason"];
  EXPECT_EQ(reason.rfind("_update_by_query on [products] is not captured by tandem", 0), 0u)
      << reason;
  EXPECT_NE(reason.find("multi_doc_policy: allow"), std::string::npos);
}

TEST_F(CaptureTest, MultiDocAllowedMarksTheIndex) {
  opts_.multi_doc = MultiDocPolicy::kAllow;
  open();
  std::string body = R"({"source":{"index":"a"},"dest":{"index":"b"}})";
  RequestView req{"POST", "/_reindex", nullptr, body};
  BeginResult b = testing::begin_blocking(*cap_, req, classify("POST", "/_reindex"));
  EXPECT_FALSE(b.reply);
  auto m = marks_.marks();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].first, "b");
  std::promise<std::string> p;
  cap_->complete(b.ticket, UpstreamAnswer{200, nullptr, "{\"total\":0}"},
                 [&](std::string s) { p.set_value(s); });
  EXPECT_EQ(p.get_future().get(), "{\"total\":0}");
}

TEST_F(CaptureTest, MetaWriteBecomesMetaEvent) {
  open();
  std::string body = R"({"index_patterns":["x-*"],"template":{}})";
  roundtrip("PUT", "/_index_template/tpl1", body, 200, R"({"acknowledged":true})");
  auto ev = logged();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].op, event::Op::kMeta);
  EXPECT_EQ(ev[0].index.get(), "");
  auto j = nlohmann::json::parse(ev[0].meta);
  EXPECT_EQ(j["name"], "tpl1");
  EXPECT_EQ(j["path"], "/_index_template/tpl1");
  EXPECT_EQ(j["body"]["index_patterns"][0], "x-*");
}

// The payload's "name" comes from the classification (es::parse_rest_path):
// templates, data streams and aliases named with their index carry it; an
// index-less /_alias/{name} and a block never did.
TEST_F(CaptureTest, MetaPayloadNamesWhatItAlwaysNamed) {
  open();
  roundtrip("PUT", "/_template/t%201", "{}", 200, R"({"acknowledged":true})");
  roundtrip("PUT", "/_data_stream/logs-a", "", 200, R"({"acknowledged":true})");
  roundtrip("PUT", "/products/_alias/a1,a2", "", 200, R"({"acknowledged":true})");
  roundtrip("PUT", "/_alias/a3", R"({"index":"products"})", 200, R"({"acknowledged":true})");
  roundtrip("PUT", "/products/_block/write", "", 200, R"({"acknowledged":true})");
  auto ev = logged();
  ASSERT_EQ(ev.size(), 5u);
  std::vector<nlohmann::json> j;
  for (const auto& e : ev) j.push_back(nlohmann::json::parse(e.meta));
  EXPECT_EQ(j[0]["name"], "t 1");
  EXPECT_EQ(j[1]["name"], "logs-a");
  EXPECT_EQ(j[2]["name"], "a1,a2");
  EXPECT_EQ(ev[2].index.get(), "products");
  EXPECT_FALSE(j[3].contains("name"));
  EXPECT_FALSE(j[4].contains("name"));
}

TEST_F(CaptureTest, SyncWaitsForTheLog) {
  open();
  log_.set_mode(FakeLog::Mode::kHang);
  Classification cls = classify("PUT", "/capture-td-es7/_doc/d1");
  BeginResult b =
      testing::begin_blocking(*cap_, {"PUT", "/capture-td-es7/_doc/d1", nullptr, "{\"n\":5}"}, cls);
  std::atomic<bool> released{false};
  cap_->complete(b.ticket, UpstreamAnswer{201, nullptr, testdata("es7_doc_index.json")},
                 [&](std::string) { released = true; });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(released.load());
  log_.release_held(true);
  EXPECT_TRUE(eventually([&] { return released.load(); }));
  EXPECT_EQ(status().spilled_total, 0u);
}

TEST_F(CaptureTest, SyncSpillsAfterTheDeadlineAndDrains) {
  open();
  log_.set_mode(FakeLog::Mode::kHang);
  auto t0 = std::chrono::steady_clock::now();
  roundtrip("PUT", "/capture-td-es7/_doc/d1", "{\"n\":5}", 201, testdata("es7_doc_index.json"));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  EXPECT_EQ(status().spilled_total, 1u);
  EXPECT_EQ(status().intents_open, 0u);
  // The log comes back and delivers what it held, as Kafka does: the drain
  // waited for its append instead of queueing another copy behind it.
  EXPECT_TRUE(eventually([&] { return log_.held() == 2; }));  // live + drain
  log_.set_mode(FakeLog::Mode::kAck);
  log_.release_held(true);
  EXPECT_TRUE(eventually([&] { return status().drained_total == 1u; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(log_.records().size(), 2u) << "the drain re-appended an event still pending";
}

TEST_F(CaptureTest, DrainRetriesOnlyWhatTheLogRefused) {
  open();
  log_.set_mode(FakeLog::Mode::kHang);
  roundtrip("PUT", "/capture-td-es7/_doc/d1", "{\"n\":5}", 201, testdata("es7_doc_index.json"));
  EXPECT_EQ(status().spilled_total, 1u);
  EXPECT_TRUE(eventually([&] { return log_.held() == 2; }));
  // The producer gives up on them (Kafka: message.timeout.ms): the drain
  // appends again after its back-off, and that copy is acknowledged.
  log_.set_mode(FakeLog::Mode::kAck);
  log_.release_held(false);
  EXPECT_TRUE(eventually([&] { return status().drained_total == 1u; }));
  EXPECT_EQ(log_.records().size(), 1u);
}

TEST_F(CaptureTest, FailClosedWhenLogAndSpillFail) {
  // The journal opens, then refuses every record (disk gone read-only).
  FakeLog* spill = nullptr;
  tuning_.open_spill = [&spill]() -> Result<std::unique_ptr<log::Log>> {
    auto l = std::make_unique<FakeLog>();
    l->set_mode(FakeLog::Mode::kFail);
    spill = l.get();
    return std::unique_ptr<log::Log>(std::move(l));
  };
  open();
  ASSERT_NE(spill, nullptr);
  log_.set_mode(FakeLog::Mode::kFail);
  // The write was applied by the primary: the client gets its answer, the
  // events stay in memory, the index is marked, the intent stays open.
  std::string client =
      roundtrip("PUT", "/capture-td-es7/_doc/d1", "{\"n\":5}", 201, testdata("es7_doc_index.json"));
  EXPECT_EQ(client, testdata("es7_doc_index.json"));
  auto s = status();
  EXPECT_TRUE(s.fail_closed);
  EXPECT_EQ(s.stranded, 1u);
  EXPECT_EQ(s.intents_open, 1u);
  EXPECT_FALSE(marks_.marks().empty());
  // Later writes are refused before they reach the primary.
  BeginResult b = testing::begin_blocking(*cap_, {"PUT", "/x/_doc/2", nullptr, "{}"},
                                          classify("PUT", "/x/_doc/2"));
  ASSERT_TRUE(b.reply);
  EXPECT_EQ(b.reply->status, 503);
  auto j = nlohmann::json::parse(b.reply->body);
  EXPECT_EQ(j["error"]["type"], "tandem_capture_unavailable_exception");
  EXPECT_EQ(j["status"], 503);
  // Reads are never refused.
  EXPECT_FALSE(testing::begin_blocking(*cap_, {"GET", "/x/_search", nullptr, ""},
                                       classify("GET", "/x/_search"))
                   .reply);
  // Recovery: the prober gets the stranded event into the log.
  log_.set_mode(FakeLog::Mode::kAck);
  ASSERT_TRUE(eventually([&] { return !status().fail_closed; }));
  EXPECT_EQ(logged().size(), 1u);
  EXPECT_FALSE(testing::begin_blocking(*cap_, {"PUT", "/x/_doc/2", nullptr, "{}"},
                                       classify("PUT", "/x/_doc/2"))
                   .reply);
}

TEST_F(CaptureTest, AsyncReleasesImmediatelyAndTracksTheWindow) {
  opts_.durability = Durability::kAsync;
  opts_.log_deadline = 5000ms;
  open();
  log_.set_mode(FakeLog::Mode::kHang);
  roundtrip("PUT", "/capture-td-es7/_doc/d1", "{\"n\":5}", 201, testdata("es7_doc_index.json"));
  EXPECT_EQ(status().durability, Durability::kAsync);
  EXPECT_EQ(status().async_window, 1u);
  log_.release_held(true);
  EXPECT_TRUE(eventually([&] { return status().async_window == 0u; }));
  EXPECT_EQ(status().intents_open, 0u);
}

TEST_F(CaptureTest, CrashLeavesIntentsThatBecomeReconcileEvents) {
  open();
  // Forwarded, never completed: the process "dies" here.
  testing::begin_blocking(*cap_, {"PUT", "/books/_doc/b%2F1?routing=r", nullptr, "{}"},
                          classify("PUT", "/books/_doc/b%2F1?routing=r"));
  testing::begin_blocking(*cap_, {"POST", "/books/_doc", nullptr, "{}"},
                          classify("POST", "/books/_doc"));
  std::string bulk = "{\"delete\":{\"_index\":\"mags\",\"_id\":\"m1\"}}\n";
  testing::begin_blocking(*cap_, {"POST", "/_bulk", nullptr, bulk}, classify("POST", "/_bulk"));
  EXPECT_EQ(status().intents_open, 3u);
  open();  // restart on the same directories
  auto ev = logged();
  ASSERT_EQ(ev.size(), 2u);
  std::sort(ev.begin(), ev.end(),
            [](const auto& a, const auto& b) { return a.index.get() < b.index.get(); });
  EXPECT_EQ(ev[0].op, event::Op::kReconcile);
  EXPECT_EQ(ev[0].index.get(), "books");
  EXPECT_EQ(ev[0].id.get(), "b/1");
  EXPECT_EQ(ev[0].routing, "r");
  EXPECT_EQ(ev[0].seq_no.get(), -1);
  EXPECT_EQ(ev[1].index.get(), "mags");
  auto m = marks_.marks();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].first, "books");
  EXPECT_EQ(m[0].second, "auto-id write in flight at crash");
  EXPECT_EQ(status().intents_open, 0u);
  EXPECT_EQ(status().recovered_reconciles, 2u);
  open();  // compacted: nothing again
  EXPECT_EQ(logged().size(), 2u);
}

TEST_F(CaptureTest, AbandonReconcilesNowAndAfterTheGrace) {
  tuning_.abandon_grace = 100ms;
  open();
  BeginResult b = testing::begin_blocking(*cap_, {"DELETE", "/books/_doc/9", nullptr, ""},
                                          classify("DELETE", "/books/_doc/9"));
  cap_->abandon(b.ticket);
  ASSERT_EQ(logged().size(), 1u);
  EXPECT_EQ(logged()[0].op, event::Op::kReconcile);
  EXPECT_EQ(status().intents_open, 1u);
  std::this_thread::sleep_for(150ms);
  testing::begin_blocking(*cap_, {"GET", "/", nullptr, ""},
                          classify("GET", "/"));  // reads don't sweep
  testing::begin_blocking(*cap_, {"POST", "/_refresh", nullptr, ""}, classify("POST", "/_refresh"));
  testing::begin_blocking(*cap_, {"PUT", "/x", nullptr, ""},
                          classify("PUT", "/x"));  // a write: sweeps
  EXPECT_TRUE(eventually([&] { return logged().size() == 2; }));
  EXPECT_TRUE(eventually([&] { return status().intents_open == 0u; }));
}

TEST_F(CaptureTest, PrimaryUnreachableSettlesIntents) {
  open();
  BeginResult b = testing::begin_blocking(*cap_, {"PUT", "/x/_doc/1", nullptr, "{}"},
                                          classify("PUT", "/x/_doc/1"));
  EXPECT_EQ(status().intents_open, 1u);
  std::promise<std::string> p;
  cap_->complete(b.ticket, UpstreamAnswer{0, nullptr, ""}, [&](std::string s) { p.set_value(s); });
  EXPECT_EQ(p.get_future().get(), "");
  EXPECT_EQ(status().intents_open, 0u);
  EXPECT_TRUE(logged().empty());
}

TEST_F(CaptureTest, RefusesToStartWithoutASpillJournal) {
  std::filesystem::create_directories(dir_);
  { std::ofstream(dir_ / "file") << "x"; }
  opts_.spill_dir = (dir_ / "file" / "spill").string();
  auto c = make_capture(opts_, &log_, &marks_, tuning_);
  ASSERT_FALSE(c.is_ok());
  EXPECT_EQ(c.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(c.status().message().find("spill journal"), std::string::npos) << c.status().message();
}

TEST_F(CaptureTest, RequiresDirectoriesAndStores) {
  CaptureOptions o;
  EXPECT_EQ(make_capture(o, &log_, &marks_).status().code(), Code::kInvalidArgument);
  o.spill_dir = (dir_ / "s").string();
  EXPECT_EQ(make_capture(o, &log_, &marks_).status().code(), Code::kInvalidArgument);
  o.intents_dir = (dir_ / "i").string();
  EXPECT_EQ(make_capture(o, nullptr, &marks_).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(make_capture(o, &log_, nullptr).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(make_capture(o, &log_, &marks_).is_ok());
}

}  // namespace
}  // namespace tandem::proxy
