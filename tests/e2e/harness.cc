#include "e2e/harness.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "proxy/proxy.h"
#include "support/process.h"

namespace tandem::e2e {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

bool is_2xx(int s) {
  return s >= 200 && s < 300;
}

// One item answer (single-doc body or a bulk item's inner object) -> ack.
void item_ack(const json& r, int status, bool auto_id, std::vector<Ack>* out) {
  const std::string result = r.value("result", "");
  const int64_t seq = r.value("_seq_no", int64_t{-1});
  Ack a{r.value("_index", ""), r.value("_id", ""), seq, false, auto_id};
  if (is_2xx(status) && (result == "created" || result == "updated")) {
    out->push_back(a);
  } else if ((is_2xx(status) && result == "deleted") ||
             (status == 404 && result == "not_found" && seq >= 0)) {
    a.is_delete = true;
    out->push_back(a);
  }
}

// Whether each action of a bulk body carries an _id (in request order).
std::vector<bool> bulk_item_has_id(const std::string& body) {
  std::vector<bool> out;
  size_t pos = 0;
  bool expect_action = true;
  std::string action;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    std::string line = body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? body.size() : nl + 1;
    if (line.empty()) continue;
    if (expect_action) {
      json a = json::parse(line, nullptr, false);
      if (a.is_discarded() || !a.is_object() || a.empty()) return out;
      action = a.begin().key();
      out.push_back(a.begin()->contains("_id"));
      expect_action = action == "delete";
    } else {
      expect_action = true;
    }
  }
  return out;
}

}  // namespace

std::vector<Ack> acknowledged_writes(const std::vector<testing::Exchange>& xs) {
  std::vector<Ack> out;
  for (const auto& x : xs) {
    if (x.status == 0) continue;
    auto c = proxy::classify(x.method, x.target);
    if (c.cls != proxy::RequestClass::kDocWrite && c.cls != proxy::RequestClass::kBulk) continue;
    json r = json::parse(x.response_body, nullptr, false);
    if (r.is_discarded() || !r.is_object()) continue;
    if (c.cls == proxy::RequestClass::kDocWrite) {
      item_ack(r, x.status, !c.id.has_value(), &out);
      continue;
    }
    if (!is_2xx(x.status) || !r.contains("items")) continue;
    auto has_id = bulk_item_has_id(x.request_body);
    size_t i = 0;
    for (const auto& item : r["items"]) {
      const auto& inner = *item.begin();
      bool auto_id = i < has_id.size() && !has_id[i];
      item_ack(inner, inner.value("status", 0), auto_id, &out);
      ++i;
    }
  }
  return out;
}

size_t acknowledged_meta_writes(const std::vector<testing::Exchange>& xs) {
  size_t n = 0;
  for (const auto& x : xs) {
    auto c = proxy::classify(x.method, x.target);
    if (c.cls == proxy::RequestClass::kMetaWrite && is_2xx(x.status)) ++n;
  }
  return n;
}

LoggedEvents read_log(log::Log& log) {
  LoggedEvents out;
  auto begin = log.begin_offsets();
  auto end = log.end_offsets();
  EXPECT_TRUE(begin.is_ok() && end.is_ok()) << log.describe();
  if (!begin.is_ok() || !end.is_ok()) return out;
  static int readers = 0;
  auto c =
      log.consumer("e2e-reader-" + std::to_string(::getpid()) + "-" + std::to_string(++readers));
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  if (!c.is_ok()) return out;
  std::vector<int64_t> next(end->size());
  for (size_t p = 0; p < next.size(); ++p) next[p] = (*begin)[p].get();
  auto done = [&] {
    for (size_t p = 0; p < next.size(); ++p)
      if (next[p] < (*end)[p].get()) return false;
    return true;
  };
  auto deadline = Clock::now() + 60s;
  while (!done() && Clock::now() < deadline) {
    auto recs = (*c)->poll(2000, 500ms);
    EXPECT_TRUE(recs.is_ok()) << recs.status().to_string();
    if (!recs.is_ok()) break;
    for (const auto& rec : *recs) {
      auto p = static_cast<size_t>(rec.partition.get());
      if (p < next.size()) next[p] = std::max(next[p], rec.offset.get() + 1);
      auto e = event::decode(rec.value);
      EXPECT_TRUE(e.is_ok()) << e.status().to_string();
      if (!e.is_ok()) continue;
      const auto& ev = *e;
      switch (ev.op) {
        case event::Op::kIndex:
        case event::Op::kDelete:
          out.data.emplace(ev.index.get(), ev.id.get(), ev.seq_no.get(),
                           ev.op == event::Op::kDelete);
          break;
        case event::Op::kReconcile:
          out.reconciles.emplace(ev.index.get(), ev.id.get());
          break;
        case event::Op::kMeta:
          ++out.meta;
          break;
      }
      out.all.push_back(std::move(e).value());
    }
  }
  EXPECT_TRUE(done()) << "could not read " << log.describe() << " to its end in 60 s";
  return out;
}

std::pair<std::string, uint16_t> host_port(const std::string& url) {
  auto u = http::Url::parse(url);
  EXPECT_TRUE(u.is_ok()) << url;
  if (!u.is_ok()) return {"127.0.0.1", 0};
  return {u->host, u->port};
}

std::unique_ptr<http::Client> client_for(const std::string& url) {
  auto u = http::Url::parse(url);
  EXPECT_TRUE(u.is_ok());
  http::ClientOptions co;
  co.url = *u;
  co.request_timeout = 30s;
  co.max_retries = 0;
  auto c = http::make_client(co);
  EXPECT_TRUE(c.is_ok()) << c.status().to_string();
  return c.is_ok() ? std::move(c).value() : nullptr;
}

Result<http::Response> send_tagged(http::Client& c, const std::string& tag,
                                   const std::string& method, const std::string& target,
                                   const std::string& body, const std::string& content_type) {
  http::Request r;
  r.method = method;
  r.target = target;
  r.body = body;
  if (!body.empty()) r.content_type = content_type;
  r.headers.push_back({"X-Opaque-Id", tag});
  r.idempotent = method == "GET" || method == "HEAD";
  return c.send(r);
}

std::string admin_status(const ProxyProcess& p) {
  auto c = client_for("http://127.0.0.1:" + std::to_string(p.admin_port));
  if (!c) return "null";
  http::Request r{"GET", "/status"};
  r.timeout = 2s;
  auto resp = c->send(r);
  if (!resp.is_ok() || resp->status != 200) return "null";
  return resp->body;
}

ProxyProcess start_proxy(const ProxySpec& spec) {
  ProxyProcess p;
  p.port = spec.port ? spec.port : testing::free_port();
  p.admin_port = testing::free_port();
  std::filesystem::create_directories(spec.data_dir);
  p.output = spec.data_dir + "/proxy.out";
  std::vector<std::string> args = {testing::tandem_bin(),
                                   "proxy",
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(p.port),
                                   "--admin",
                                   "127.0.0.1:" + std::to_string(p.admin_port),
                                   "--primary",
                                   spec.primary_url,
                                   "--data-dir",
                                   spec.data_dir,
                                   "--workers",
                                   "2"};
  if (!spec.config_yaml.empty()) {
    std::string path = spec.data_dir + "/proxy.yaml";
    std::ofstream(path) << spec.config_yaml;
    args.insert(args.end(), {"--config", path});
  }
  if (!spec.log_dir.empty()) args.insert(args.end(), {"--log-dir", spec.log_dir});
  if (!spec.kafka_brokers.empty())
    args.insert(args.end(), {"--kafka", spec.kafka_brokers, "--topic", spec.topic});
  testing::SpawnOptions so;
  so.max_file_size = spec.max_file_size;
  p.pid = testing::spawn(args, p.output, so);
  auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline) {
    if (admin_status(p) != "null") return p;
    int st = 0;
    if (::waitpid(p.pid, &st, WNOHANG) == p.pid) {
      ADD_FAILURE() << "tandem proxy exited at start-up:\n" << testing::file_tail(p.output);
      p.pid = -1;
      return p;
    }
    std::this_thread::sleep_for(100ms);
  }
  ADD_FAILURE() << "tandem proxy did not answer on its admin port within 60 s:\n"
                << testing::file_tail(p.output);
  return p;
}

namespace {

// Removes the `get` members capture injects into update answers, where
// the client's own answer has none.
void strip_injected_get(json* blue, const json& client) {
  if (blue->is_object() && blue->contains("get") && client.is_object() && !client.contains("get"))
    blue->erase("get");
  if (!blue->is_object() || !blue->contains("items") || !client.is_object() ||
      !client.contains("items"))
    return;
  auto& bi = (*blue)["items"];
  const auto& ci = client["items"];
  for (size_t i = 0; i < bi.size() && i < ci.size(); ++i) {
    auto& b = *bi[i].begin();
    const auto& c = *ci[i].begin();
    if (b.is_object() && b.contains("get") && !c.contains("get")) b.erase("get");
  }
}

}  // namespace

std::string compare_answers(const testing::Exchange& blue, int client_status,
                            const std::string& client_body) {
  if (blue.status != client_status)
    return "status: blue " + std::to_string(blue.status) + ", client " +
           std::to_string(client_status);
  if (blue.response_body == client_body) return "";
  // Only an injected _source may differ (docs/proxy-capture.md section 2).
  bool injected = blue.target.find("_source=true") != std::string::npos ||
                  blue.request_body.find("\"_source\":true,") != std::string::npos;
  if (!injected)
    return "body differs:\n blue:   " + blue.response_body + "\n client: " + client_body;
  json b = json::parse(blue.response_body, nullptr, false);
  json c = json::parse(client_body, nullptr, false);
  if (b.is_discarded() || c.is_discarded()) return "unparsable update answer: " + client_body;
  strip_injected_get(&b, c);
  if (b != c)
    return "update answer differs beyond the injected get:\n blue:   " + b.dump() +
           "\n client: " + c.dump();
  // Same members, and the client's bytes are blue's minus the cut spans:
  // the lengths must add up to no more than blue's.
  if (client_body.size() >= blue.response_body.size())
    return "client answer is not shorter than blue's although get was cut";
  return "";
}

}  // namespace tandem::e2e
