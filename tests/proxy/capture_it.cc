// Capture against the real blue cluster (ES 7.17): requests go through
// WriteCapture::begin(), are sent to blue exactly as the ticket says, and
// blue's real answers go through complete(). The events land in a real file
// log and must carry blue's own _seq_no / _primary_term.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <future>

#include "http/http.h"
#include "log/log.h"
#include "proxy/begin_blocking.h"
#include "proxy/capture.h"
#include "support/services.h"

namespace tandem::proxy {
namespace {

using namespace std::chrono_literals;

class CaptureBlue : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tandem-capture-it-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto url = http::Url::parse(tandem::testing::blue_url());
    ASSERT_TRUE(url.is_ok()) << url.status().to_string();
    http::ClientOptions co;
    co.url = *url;
    co.request_timeout = 30s;
    auto c = http::make_client(co);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    blue_ = std::move(c).value();
    auto ping = blue_->send({"GET", "/_cluster/health"});
    ASSERT_TRUE(ping.is_ok()) << "blue ES is not reachable at " << tandem::testing::blue_url()
                              << ": " << ping.status().to_string()
                              << " (start it with scripts/services up)";
    log::FileLogOptions lo;
    lo.dir = (dir_ / "log").string();
    lo.partitions = 2;
    auto l = log::open_file_log(lo);
    ASSERT_TRUE(l.is_ok()) << l.status().to_string();
    log_ = std::move(l).value();
    CaptureOptions o;
    o.spill_dir = (dir_ / "spill").string();
    o.intents_dir = (dir_ / "intents").string();
    auto cap = make_capture(o, log_.get(), &marks_);
    ASSERT_TRUE(cap.is_ok()) << cap.status().to_string();
    cap_ = std::move(cap).value();
    index_ = tandem::testing::unique_name("capture-it");
  }
  void TearDown() override {
    if (blue_) (void)blue_->send({"DELETE", "/" + index_});
    cap_.reset();
    log_.reset();
    std::filesystem::remove_all(dir_);
  }

  struct Answer {
    int status = 0;
    std::string client_body;
  };

  // What the server half does: classify, begin, forward per ticket, complete.
  Answer send(const std::string& method, const std::string& target, const std::string& body = "",
              const std::string& content_type = "application/json") {
    Classification cls = classify(method, target);
    RequestView view{method, target, nullptr, body};
    BeginResult b = testing::begin_blocking(*cap_, view, cls);
    if (b.reply) return {b.reply->status, b.reply->body};
    http::Request req;
    req.method = method;
    req.target = b.ticket.rewritten_target.value_or(target);
    req.body = b.ticket.rewritten_body.value_or(body);
    if (!req.body.empty()) req.content_type = content_type;
    req.idempotent = false;
    auto resp = blue_->send(req);
    EXPECT_TRUE(resp.is_ok()) << resp.status().to_string();
    if (!resp.is_ok()) return {};
    std::promise<std::string> p;
    cap_->complete(b.ticket, UpstreamAnswer{resp->status, nullptr, resp->body},
                   [&](std::string s) { p.set_value(std::move(s)); });
    return {resp->status, p.get_future().get()};
  }

  std::vector<event::ChangeEvent> events() {
    auto c = log_->consumer("it-" + std::to_string(++readers_));
    EXPECT_TRUE(c.is_ok());
    std::vector<event::ChangeEvent> out;
    for (int round = 0; round < 20; ++round) {
      auto recs = (*c)->poll(1000, 100ms);
      EXPECT_TRUE(recs.is_ok());
      if (!recs.is_ok() || recs->empty()) break;
      for (const auto& r : *recs) {
        auto e = event::decode(r.value);
        EXPECT_TRUE(e.is_ok()) << e.status().to_string();
        if (e.is_ok()) out.push_back(std::move(e).value());
      }
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.seq_no.get() < b.seq_no.get(); });
    return out;
  }

  // Blue's own view of a document: (_seq_no, _primary_term, _source).
  nlohmann::json get_doc(const std::string& id, const std::string& routing = "") {
    std::string t = "/" + index_ + "/_doc/" + http::encode_path_segment(id);
    if (!routing.empty()) t += "?routing=" + routing;
    auto r = blue_->send({"GET", t});
    EXPECT_TRUE(r.is_ok());
    return nlohmann::json::parse(r->body);
  }

  std::filesystem::path dir_;
  std::unique_ptr<http::Client> blue_;
  std::unique_ptr<log::Log> log_;
  MemoryMarks marks_;
  std::unique_ptr<WriteCapture> cap_;
  std::string index_;
  int readers_ = 0;
};

TEST_F(CaptureBlue, SingleDocumentWritesCarryBluesSeqNo) {
  ASSERT_EQ(
      send("PUT", "/" + index_, R"({"settings":{"number_of_shards":2,"number_of_replicas":0}})")
          .status,
      200);
  ASSERT_EQ(send("PUT", "/" + index_ + "/_doc/a%2F1?routing=r1", R"({"n":1,"s":"x"})").status, 201);
  Answer auto_id = send("POST", "/" + index_ + "/_doc", R"({"n":2})");
  ASSERT_EQ(auto_id.status, 201);
  std::string new_id = nlohmann::json::parse(auto_id.client_body)["_id"];
  Answer upd = send("POST", "/" + index_ + "/_update/a%2F1?routing=r1", R"({"doc":{"s":"y"}})");
  ASSERT_EQ(upd.status, 200);
  EXPECT_EQ(upd.client_body.find("\"get\""), std::string::npos) << upd.client_body;
  nlohmann::json after_update = get_doc("a/1", "r1");
  ASSERT_EQ(send("DELETE", "/" + index_ + "/_doc/" + new_id).status, 200);
  EXPECT_EQ(send("DELETE", "/" + index_ + "/_doc/never").status, 404);

  auto ev = events();
  ASSERT_EQ(ev.size(), 6u);  // meta, index, index(auto), update->index, delete, delete(missing)
  std::map<std::string, std::vector<event::ChangeEvent>> by_id;
  for (const auto& e : ev) by_id[e.id.get()].push_back(e);
  ASSERT_EQ(by_id[""].size(), 1u);
  EXPECT_EQ(by_id[""][0].op, event::Op::kMeta);
  auto& a1 = by_id["a/1"];
  ASSERT_EQ(a1.size(), 2u);
  EXPECT_EQ(a1[0].op, event::Op::kIndex);
  EXPECT_EQ(a1[0].routing, "r1");
  EXPECT_EQ(a1[1].op, event::Op::kIndex);
  EXPECT_EQ(a1[1].seq_no.get(), after_update["_seq_no"].get<int64_t>());
  EXPECT_EQ(a1[1].primary_term.get(), after_update["_primary_term"].get<int64_t>());
  EXPECT_EQ(nlohmann::json::parse(a1[1].source), after_update["_source"]);
  ASSERT_EQ(by_id[new_id].size(), 2u);
  EXPECT_EQ(by_id[new_id][1].op, event::Op::kDelete);
  ASSERT_EQ(by_id["never"].size(), 1u);
  EXPECT_EQ(by_id["never"][0].op, event::Op::kDelete);
  EXPECT_GE(by_id["never"][0].seq_no.get(), 0);
  for (const auto& e : ev) EXPECT_EQ(e.index.get(), index_);
  const CaptureStatus st = cap_->status();
  EXPECT_EQ(st.intents_open, 0u);
  EXPECT_EQ(st.events_emitted, 6u);
}

TEST_F(CaptureBlue, BulkThroughCapture) {
  ASSERT_EQ(send("PUT", "/" + index_, R"({"settings":{"number_of_replicas":0}})").status, 200);
  std::string bulk;
  auto line = [&](const std::string& s) { bulk += s + "\n"; };
  line(R"({"index":{"_id":"1"}})");
  line(R"({"n":1})");
  line(R"({"index":{}})");
  line(R"({"n":2})");
  line(R"({"create":{"_id":"1"}})");
  line(R"({"n":3})");
  line(R"({"update":{"_id":"1"}})");
  line(R"({"doc":{"m":1}})");
  line(R"({"update":{"_id":"1","_source":true}})");
  line(R"({"doc":{"m":2}})");
  line(R"({"update":{"_id":"nope"}})");
  line(R"({"doc":{"m":1}})");
  line(R"({"delete":{"_id":"gone"}})");
  Answer a = send("POST", "/" + index_ + "/_bulk", bulk, "application/x-ndjson");
  ASSERT_EQ(a.status, 200);
  auto resp = nlohmann::json::parse(a.client_body);
  auto& items = resp["items"];
  ASSERT_EQ(items.size(), 7u);
  EXPECT_FALSE(items[3]["update"].contains("get"));  // injected: stripped
  EXPECT_TRUE(items[4]["update"].contains("get"));   // asked by the client: kept
  EXPECT_EQ(items[2]["create"]["status"], 409);
  nlohmann::json doc1 = get_doc("1");
  auto ev = events();
  // meta, index 1, index auto, update, update, delete(missing)
  ASSERT_EQ(ev.size(), 6u);
  const auto& last1 =
      *std::find_if(ev.rbegin(), ev.rend(), [](const auto& e) { return e.id.get() == "1"; });
  EXPECT_EQ(last1.seq_no.get(), doc1["_seq_no"].get<int64_t>());
  EXPECT_EQ(nlohmann::json::parse(last1.source), doc1["_source"]);
  for (const auto& e : ev) {
    if (e.op != event::Op::kMeta) {
      EXPECT_EQ(e.index.get(), index_);
    }
  }
}

TEST_F(CaptureBlue, MultiDocRejectedBeforeReachingBlue) {
  ASSERT_EQ(send("PUT", "/" + index_, "").status, 200);
  Answer a = send("POST", "/" + index_ + "/_delete_by_query", R"({"query":{"match_all":{}}})");
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(a.client_body.find("tandem_rejected_operation_exception"), std::string::npos);
}

}  // namespace
}  // namespace tandem::proxy
